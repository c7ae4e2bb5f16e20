"""Three small sites' documents for the integration tests: each plant knows different equipment."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SITES", "write_corpus"]

SITES: dict[str, dict[str, str]] = {
    "north": {
        "north-pump-manual.md": """# Slurry pump SP-40 manual

## Mechanical seal replacement
Isolate the pump and lock out breaker MCC-7 before work. Replace the mechanical seal kit MS-4471
when leakage exceeds 20 drops per minute. Torque the gland bolts to 35 Nm in a cross pattern.

## Bearing lubrication
Grease the drive-end bearing 6310-C3 every 500 running hours with lithium complex grease, 12 g per shot.

## Cavitation
Noise like gravel in the casing means cavitation: raise the sump level above 1.2 m and check that the
suction valve is fully open before reducing pump speed.
""",
        "north-orders.csv": """wo_id,date,asset,description,action
N-1001,2024-02-11,SP-40,gland leaking badly,replaced mechanical seal MS-4471
N-1002,2024-03-02,SP-40,pump noisy like gravel,raised sump level and opened suction valve
""",
    },
    "south": {
        "south-conveyor-manual.md": """# Conveyor C3 manual

## Belt tracking
If the belt runs off to one side, adjust the snub pulley take-up by a quarter turn and observe for
five minutes. Never adjust tracking with the belt stopped.

## Head pulley bearing
Fault code F-217 signals bearing overtemperature on the head pulley. Stop the conveyor, check the
grease, and replace bearing 22216 if the temperature stays above 85 C.
""",
        "south-orders.csv": """wo_id,date,asset,description,action
S-2001,2024-01-03,C3,head pulley bearing hot F-217,replaced bearing 22216
S-2002,2024-03-20,C3,belt tracking off to left,adjusted snub pulley
""",
    },
    "east": {
        "east-compressor-manual.md": """# Air compressor AC-9 manual

## Pressure switch
The compressor cuts in at 7 bar and out at 9 bar. Adjust the pressure switch with the unit isolated;
one turn of the range screw moves both points by 0.5 bar.

## Oil change
Change the compressor oil every 2000 hours with ISO VG 46 oil; drain it warm and replace the filter.
""",
        "east-orders.csv": """wo_id,date,asset,description,action
E-3001,2024-04-09,AC-9,compressor not cutting out,adjusted pressure switch range screw
E-3002,2024-05-15,AC-9,oil dark and foamy,changed oil and filter
""",
    },
}


def write_corpus(root: Path, site_id: str) -> Path:
    folder = root / "corpus" / site_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in SITES[site_id].items():
        (folder / name).write_text(text)
    return folder
