"""Generate the PDF manuals of the sample federation (rag_fed/samples/federation/*/manuals/*.pdf).

The manuals are fictional and written for this project. Their full text is in this script, in a small
line-based markup, so the PDFs can be rebuilt at any time and reviewed as text:

    === page ===        starts a PDF page; each one must fit on one page (the script fails otherwise),
                        so the page numbers cited by questions.jsonl stay stable
    # Title             document title          ## Heading       section heading
    - item              bullet item; lines indented by two spaces continue it
    @widths 60 110      column widths (mm) of the next table
    | a | b |           table row, the first row of a table is its heading row; a row that does not
                        end with "|" continues on the next line(s), indented by two spaces
    other lines         paragraph text; a blank line ends the paragraph

Regenerate (needs the ``dev`` extra, i.e. fpdf2):

    .venv/bin/pip install fpdf2
    .venv/bin/python scripts/make_sample_pdf.py            # writes the three PDFs
    .venv/bin/python scripts/make_sample_pdf.py --check    # exit 1 if a committed PDF is out of date
    .venv/bin/python scripts/check_sample_questions.py     # then re-check the gold passages

Output is deterministic (fixed creation date, core fonts only, latin-1 text): a rebuild with the same
fpdf2 version gives identical bytes. The generated PDFs are committed; the demo, tests and docs do not
need fpdf2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FEDERATION = ROOT / "rag_fed" / "samples" / "federation"
CREATED = datetime(2024, 3, 1, 8, 0, 0, tzinfo=UTC)
PAGE_BREAK = "=== page ==="


@dataclass(frozen=True)
class Block:
    """One piece of a page: ``h1``/``h2``/``p`` (``text``), ``bullets`` (``items``) or ``table``."""

    kind: str
    text: str = ""
    items: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    widths: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Manual:
    path: str  # relative to FEDERATION
    doc_no: str
    title: str
    subject: str
    markup: str


# --------------------------------------------------------------------------------------------------
# plant-north: GX-400 Helical-Bevel Gearbox - Service Manual
# --------------------------------------------------------------------------------------------------
GX400 = Manual(
    path="plant-north/manuals/gx400-gearbox-service.pdf",
    doc_no="PN-MAN-GX4-003 rev B",
    title="GX-400 Helical-Bevel Gearbox - Service Manual",
    subject="Conveyor drive gearbox service, lubrication, CM-4 fault codes (plant-north)",
    markup="""
=== page ===
# GX-400 Helical-Bevel Gearbox - Service Manual
Document PN-MAN-GX4-003, revision B. Site: plant-north. Applies to the two drive gearboxes of conveyor
CV-3 (GB-CV3-1 on motor M1, GB-CV3-2 on motor M2) and the spare gearbox held in stores (GB-SPARE-400).
This manual is fictional sample data.

## 1 Description and data
The GX-400 is a three-stage helical-bevel gearbox, foot mounted, with a hollow low-speed shaft on a
shrink disc, an integral backstop (holdback) on the low-speed shaft, a shaft-driven cooling fan and an
external oil-air cooler. Bearings are splash lubricated; the input (high-speed shaft, HSS) bearings are
also fed by the cooler circuit pump.

@widths 60 110
| Item | Value |
| Rated power | 250 kW at 1,485 r/min input |
| Ratio | 22.4 : 1 (output 66 r/min) |
| Service factor | 1.75 on motor nameplate power |
| Oil | ISO VG 320 mineral EP gear oil (CLP 320), site code GO-320 |
| Oil quantity | 68 L including cooler and pipework |
| HSS bearings | 22315 E spherical roller (drive end), NU 2315 cylindrical roller |
| Low-speed shaft bearings | 2 x 32036 X tapered roller |
| Backstop | Sprag type, lubricated by gearbox oil, rated 28 kN.m |
| Mass | 2,450 kg (dry) |

## 2 Condition monitor CM-4
Each gearbox has a CM-4 condition monitor in the head-end switch room. It reads three PT100 RTDs (HSS
bearing, low-speed shaft bearing, oil sump), an oil level switch and an accelerometer on the HSS bearing
housing. CM-4 alarms are shown on the conveyor HMI with an F-2xx code; a CM-4 trip stops conveyor CV-3
through the PLC. Temperatures are logged every minute and kept for 90 days.
=== page ===
## 3 Lubrication
- Oil grade: ISO VG 320 mineral EP gear oil (GO-320). A PAO synthetic VG 320 may be used only after a
  full flush; do not mix mineral and synthetic oil.
- Oil level: check daily at the sight glass with the gearbox stopped for at least 10 minutes. The level
  must be between the MIN and MAX marks.
- Oil change interval (mineral oil): every 5,000 running hours or 12 months, whichever comes first. With
  synthetic oil: 10,000 h or 24 months.
- Oil sample: every 1,000 running hours from the sampling valve on the cooler return line, with the
  gearbox running and warm. Target cleanliness ISO 4406 -/17/14; water under 500 ppm; iron under 100
  ppm.
- Breather: desiccant breather BR-D40. Change the cartridge when two thirds of the silica gel has turned
  from orange to green.
- Input shaft seals: labyrinth plus double lip seal. Grease the labyrinth purge nipple with 10 g of
  lithium-complex EP2 every 500 h.

## 4 Oil change procedure
- Run the conveyor until the oil is warm (40 to 60 degrees C) so that sludge stays in suspension, then
  stop and isolate CV-3 (PN-MAN-CV3-001, Section 2).
- Drain through the sump drain valve and the cooler drain into a 100 L bunded drum.
- Remove and clean the magnetic drain plug; record the amount of debris (photograph it).
- Change the cooler circuit filter element GX4-FE-25 (25 micron).
- Refill through the 10 micron filter cart to the sight glass MAX mark (about 68 L), run the cooler pump
  for 5 minutes, stop, recheck the level and top up.
- Record oil volume, batch number and running hours on the work order.
=== page ===
## 5 Fault codes (CM-4)
@widths 16 66 48 40
| Code | Meaning | Limits | Effect |
| F-201 | Oil sump temperature high | alarm 85 C, trip 95 C | Trip stops CV-3 |
| F-209 | Oil level low (level switch) | 10 s delay | Trip stops CV-3 |
| F-217 | Bearing overtemperature (HSS bearing RTD) | alarm 90 C, trip 100 C | Trip stops CV-3 |
| F-218 | Bearing overtemperature (low-speed shaft RTD) | alarm 80 C, trip 90 C | Trip stops CV-3 |
| F-224 | Vibration high at HSS housing | alarm 7.1, trip 11 mm/s RMS | Trip stops CV-3 |
| F-230 | RTD open circuit or short | immediate | Alarm only |
| F-233 | Cooler pump or fan motor failed | flow switch, 30 s | Alarm only |

## F-217 bearing overtemperature - response
F-217 is raised by the RTD in the high-speed shaft (input) bearing of the GX-400. Alarm at 90 degrees C,
trip at 100 degrees C. Do not restart after an F-217 trip until the cause is found and the bearing has
cooled below 60 degrees C.

- Compare the temperature trend of both gearboxes on the CM-4 log. A slow rise over days points to
  lubrication or cooling; a fast rise in minutes points to bearing damage.
- Check the oil level (F-209 may not have tripped if the switch is fouled) and the cooler: fan running,
  cooler fins clean, cooler pump running (F-233).
- Check coupling alignment between motor and gearbox if the coupling was worked on recently. Limits:
  0.05 mm offset, 0.05 mm/100 mm angularity.
- Take an oil sample and check the magnetic drain plug for bearing debris.
- Check the RTD reading against a contact thermometer on the housing (F-230 faults and loose RTDs give
  false high readings).
- If the bearing is damaged, change the gearbox for the spare GB-SPARE-400; the bearing is not changed
  in the field.
=== page ===
## 6 Torque specifications
@widths 70 60 40
| Joint | Bolt | Torque |
| Gearbox foot bolts to drive base | M30, class 10.9, lubricated | 1,450 N.m |
| Shrink disc locking screws | M20, class 10.9 | 490 N.m, in passes to full |
| Motor to drive base | M20, class 8.8 | 410 N.m |
| Coupling (grid type) cover bolts | M10, class 8.8 | 45 N.m |
| Sump drain plug | M42 x 2 | 180 N.m |
| Inspection cover bolts | M12, class 8.8 | 80 N.m |

## 7 Monthly inspection checklist
- Oil level, oil colour in the sight glass (milky = water), leaks at seals and covers.
- CM-4 trends: HSS bearing temperature under 75 C running, vibration under 4.5 mm/s RMS.
- Breather cartridge colour; cooler fins clean; fan guard fixed.
- Foot bolts: check for movement marks (paint witness marks) - retorque only if marked lines have moved.
- Backstop: listen for clicking at stop and start; record any roll-back after stop.

## 8 Backstop
The backstop holds the loaded CV-3 belt on its 18.5 m lift. If the belt runs back more than 0.5 m after
a stop, the backstop is slipping: the conveyor must not be restarted loaded, and the gearbox must be
changed. Each of the two backstops alone can hold the fully loaded belt.
""",
)

# --------------------------------------------------------------------------------------------------
# plant-south: HX-550 Hydraulic Excavator - Hydraulic System Service Manual
# --------------------------------------------------------------------------------------------------
HX550 = Manual(
    path="plant-south/manuals/hx550-hydraulic-system.pdf",
    doc_no="PS-MAN-HYD-001 rev D",
    title="HX-550 Hydraulic Excavator - Hydraulic System Service Manual",
    subject="Hydraulic system service, hoses, cylinders, fault messages (plant-south)",
    markup="""
=== page ===
# HX-550 Hydraulic Excavator - Hydraulic System Service Manual
Document PS-MAN-HYD-001, revision D. Site: plant-south. Applies to the twin-engine HX-550 front shovels
with clam (bottom-dump) bucket, fleet units A and C. This manual is fictional sample data.

## 1 System overview
@widths 45 125
| Item | Value |
| Main pumps | 8 variable axial piston pumps, 4 per engine, via 2 pump drive gearboxes |
| Servo (pilot) pumps | 2 gear pumps, servo pressure 35 bar |
| Main relief pressure | 310 bar (boom, stick, bucket, clam); travel 330 bar |
| Swing | 2 slew motors with slew gearcases (LH and RH), slew brake spring applied |
| Hydraulic tank | 3,900 L (system total about 6,500 L) |
| Oil | ISO VG 46 HV, zinc-free, site code HO-46HV |
| Return filters | 6 x 10 micron elements HX-RF-1000, bypass at 2.5 bar |
| Oil cooling | 4 fan-driven coolers, hydraulic fan motors, thermostatic control |

## 2 Safety before hydraulic work
- Park on level ground, put the bucket and clam on the ground, stop both engines with the key switch and
  fit the machine lock and personal locks at the battery isolator and the engine start isolator in the
  ground-level isolation box.
- Release trapped pressure: with engines stopped and the servo key switch ON, move all control levers
  through their full travel several times. Then open the accumulator bleed valve on the servo block and
  check 0 bar on the servo gauge.
- Let the oil cool below 50 degrees C before opening lines. Hydraulic oil at operating temperature (up
  to 80 degrees C) causes burns.
- Never feel for a leak with the hand. A pin-hole leak at 310 bar injects oil through the skin: an
  injection injury is a surgical emergency even if it looks minor.
- Support the boom and stick before opening any cylinder or its hoses.
=== page ===
## 3 Service intervals
@widths 82 48 40
| Task | Interval | Part / note |
| Check hydraulic tank level (sight glass, attachment on ground) | Every shift |  |
| Walk-around hose and leak inspection | Every shift | See PS-CHK-FS-003 |
| Oil sample for analysis | 250 h | Sample valve on tank return manifold |
| Replace return filter elements | 1,000 h or at bypass alarm H-305 | 6 x HX-RF-1000 |
| Replace servo filter element | 1,000 h | HX-SF-0250 |
| Replace tank breather filter | 1,000 h | HX-BF-0003 |
| Pump drive gearbox oil change | 2,000 h | GO-220, 2 x 28 L |
| Slew gearcase oil change | 2,000 h | GO-220, 2 x 95 L |
| Check main pump and relief pressures | 2,000 h | Test points MP1-MP8 |
| Hydraulic tune-up (pressures, flows, pump power limiting) | 10,000 h | By OEM service technician |
| Hydraulic oil change | By analysis, at the latest 10,000 h | About 6,500 L |

## 4 Hydraulic oil cleanliness
Target cleanliness ISO 4406 18/16/13 at the tank return manifold; action limit 20/18/15. Water under 300
ppm. If the action limit is exceeded, fit the kidney-loop filter cart for at least 24 h and resample. A
sudden rise in iron and copper points to a pump or slew motor failure: check the case drain flows
(Section 7, SWKT1/SWKT2).

Top up only through the quick-fill coupling with the 3 micron fill filter. Never open the tank cover to
add oil.
=== page ===
## 5 Hoses, pipes and leaks
Leak classes used on the shift inspection and on work orders:

@widths 30 70 70
| Class | Description | Action |
| 1 - Weep | Oil film, no drops | Clean, re-inspect next shift |
| 2 - Drip | Less than 1 drop per minute | Work order, repair within 7 days |
| 3 - Leak | Steady drips or any spray | Park the machine, repair before operating |
| 4 - Blown hose | Hose burst or fitting blown off | ESD, isolate, clean up spill, report |

## Hose replacement
- Replace hoses with the same part number only; hoses are made up by the approved hose supplier and
  carry a tag with the assembly date and pressure rating.
- Replace any hose with exposed wire braid, a kink, a bubble or a crushed section, and any hose older
  than 6 years even if it looks sound.
- Keep hose clamps and rub protection sleeves in their original positions. Most blown hoses on the boom
  and stick start where a hose rubs on another hose.
- Fit new O-rings on every flange and face-seal fitting. Lubricate O-rings with hydraulic oil.

## SAE J518 split flange bolt torques (class 10.9, lubricated)
@widths 40 70 60
| Flange size | Code 61 (3000 psi) | Code 62 (6000 psi) |
| 3/4 in | M10: 50 N.m | M10: 65 N.m |
| 1 in | M10: 50 N.m | M12: 110 N.m |
| 1 1/4 in | M10: 50 N.m | M14: 170 N.m |
| 1 1/2 in | M12: 90 N.m | M16: 260 N.m |
| 2 in | M12: 90 N.m | M20: 490 N.m |

Tighten flange bolts crosswise in three steps (30 percent, 70 percent, 100 percent) so that the flange
halves stay parallel.
=== page ===
## 6 Hydraulic cylinders
Cylinder drift test (after any cylinder repair and every 2,000 h): oil at 50 to 60 degrees C, empty
bucket, boom horizontal, stick vertical, engines stopped. Measure the rod movement over 10 minutes.
Limits: boom cylinders 20 mm, stick cylinders 25 mm, bucket (tilt) cylinders 15 mm. A cylinder over the
limit has internal leakage across the piston seal and must be resealed.

@widths 50 35 40 45
| Cylinder | Rod / bore | Seal kit | Change-out unit |
| Boom (lift), LH and RH | 250 / 360 mm | SK-BOOM-250 | CYL-HX550-BOOM |
| Stick, LH and RH | 230 / 330 mm | SK-STK-230 | CYL-HX550-STK |
| Bucket (tilt), LH and RH | 220 / 300 mm | SK-BKT-220 | CYL-HX550-BKT |
| Clam, 2 off | 110 / 160 mm | SK-CLAM-110 | CYL-HX550-CLAM |

External rod seal leakage of class 3 (see Section 5) or a scored rod means a cylinder change-out: the
cylinder goes to the rebuild shop and an exchange unit is fitted. Always change the cylinder pins'
bushes if the pin is worn more than 1 mm. Cylinder pin retaining bolts (M24, class 10.9): 900 N.m with
thread locker.

## 7 Monitoring system fault messages (hydraulics)
@widths 20 80 70
| Message | Meaning | Action |
| H-301 | Hydraulic oil temperature high: warning 80 C; at 90 C pumps destroke | Check coolers, fan
  motors and thermostat valve |
| H-305 | Return filter bypass (differential pressure over 2.5 bar) | Change return filters HX-RF-1000
  this shift |
| H-312 | Hydraulic tank level low | Stop, find the leak, top up via fill filter |
| H-320 | Pump drive gearbox oil temperature high (over 95 C) | Check gearbox oil level and cooler; stop
  if over 105 C |
| SWKT1 | Right-hand (RH) slew motor case temperature high (over 95 C) | Measure RH slew motor case
  drain flow; check slew brake release |
| SWKT2 | Left-hand (LH) slew motor case temperature high (over 95 C) | Measure LH slew motor case drain
  flow; check slew brake release |

Slew motor case drain limit: 12 L/min at 50 C oil with the slew stalled against the brake at relief
pressure. Higher case drain flow means a worn slew motor: plan a change-out before it fails and
contaminates the system.
""",
)

# --------------------------------------------------------------------------------------------------
# plant-east: SC-75 Rotary Screw Compressor - Operation and Maintenance
# --------------------------------------------------------------------------------------------------
SC75 = Manual(
    path="plant-east/manuals/sc75-screw-compressor.pdf",
    doc_no="PE-MAN-SC75-001 rev C",
    title="SC-75 Rotary Screw Compressor - Operation and Maintenance",
    subject="Screw compressor maintenance, controller fault codes, troubleshooting (plant-east)",
    markup="""
=== page ===
# SC-75 Rotary Screw Compressor - Operation and Maintenance
Document PE-MAN-SC75-001, revision C. Site: plant-east. Applies to compressors C-01 and C-02 in the
compressor house, which supply the packaging line and workshops. This manual is fictional sample data.

## 1 Description and data
@widths 50 120
| Item | Value |
| Type | Oil-injected single-stage rotary screw, air cooled, fixed speed |
| Motor | 75 kW, 4-pole, IEC 280M, star-delta start |
| Motor bearings | DE 6316 C3, NDE 6316 C3, regreasable |
| Free air delivery | 12.8 m3/min at 7.5 bar(g) |
| Maximum working pressure | 8.0 bar(g); safety valve set 8.8 bar(g) |
| Oil | Synthetic compressor oil SCF-46 (PAO), 38 L |
| Controller | SC-CTRL with fault log of the last 50 events |
| Drive | Direct coupling, elastomer element |

## 2 Safety and isolation
- Stop the compressor with the STOP button (never with the emergency stop, except in an emergency) so
  that it unloads and runs down normally.
- Isolate at the main isolator Q1 on the compressor house distribution board DB-CH and fit personal
  locks. The controller has its own 230 V supply: isolate F2 as well.
- Close the outlet valve V-01 (or V-02) to the receiver and lock it closed.
- Wait for the automatic blowdown, then confirm 0 bar on the separator tank gauge. Wait a further 5
  minutes before opening the oil fill plug or any oil line: the oil can be above 80 degrees C and may
  foam out.
- The compressor is hot: the discharge pipe and oil cooler reach 100 degrees C.
=== page ===
## 3 Maintenance schedule
@widths 85 45 40
| Task | Interval | Part number |
| Check oil level in sight glass (running, loaded) | Daily |  |
| Drain separator tank condensate check / drain valve test | Weekly |  |
| Clean cooler fins (compressed air blow-through from inside) | 500 h |  |
| Replace air filter element | 2,000 h or at A-041 | SC75-AF-03 |
| Replace oil filter | 2,000 h | SC75-OF-01 |
| Replace oil separator element | 4,000 h or at F-240 | SC75-SEP-02 |
| Change oil (SCF-46) | 8,000 h or 12 months | SCF-46-20L (2 drums) |
| Regrease motor bearings DE and NDE | 4,000 h | 30 g each, polyurea grease |
| Check coupling element | 4,000 h | SC75-CPL-E |
| Test safety valve (lift by hand at pressure) | 12 months |  |
| Replace minimum pressure valve kit | 16,000 h | SC75-MPV-K |
| Replace inlet valve kit | 16,000 h | SC75-IV-K |

## 4 Oil
Use only SCF-46. Mixing with mineral compressor oil causes varnish and foaming. Oil level in the sight
glass with the compressor running loaded: between one third and two thirds. Oil carryover into the air
network above 3 mg/m3 means a separator or scavenge line problem (Section 6). Oil analysis every 2,000
h: change early if the total acid number (TAN) has risen by more than 1.0 mg KOH/g.

Motor bearing regreasing is done with the motor running, using the grease nipples brought out to the
enclosure side panel. Open the grease relief plugs first and close them after 30 minutes of running.
=== page ===
## 5 Controller messages and fault codes
@widths 18 88 36 28
| Code | Meaning | Limit | Effect |
| A-031 | Discharge temperature high - warning | 105 C | Warning |
| F-032 | Discharge temperature high - trip | 110 C | Trip |
| A-041 | Air filter differential pressure high | 50 mbar | Warning |
| A-060 | Service due (hours counter) | - | Warning |
| F-217 | Main motor bearing overtemperature (PT100 in DE bearing) | alarm 95 C, trip 105 C | Trip |
| F-220 | Motor overload relay tripped | - | Trip |
| F-240 | Separator differential pressure high | 1.0 bar | Trip |
| F-251 | Phase sequence or phase loss | - | No start |
| F-265 | Outlet pressure above maximum working pressure | 8.2 bar | Trip |

Note: on the SC-75 controller F-217 is the MAIN MOTOR bearing, not an airend bearing. After an F-217
trip: check the motor bearing grease quantity (too much grease heats a bearing as much as too little),
the coupling alignment and the motor cooling fan; take a vibration reading on the motor DE before
restarting. Reset only below 70 degrees C.

## 6 Troubleshooting
@widths 50 65 55
| Symptom | Probable cause | Action |
| A-031/F-032 high discharge temperature | Low oil level; dirty cooler; thermostatic valve stuck; room
  above 40 C | Top up SCF-46; clean cooler; check valve; ventilation |
| Oil in the compressed air | Separator element damaged; scavenge line orifice blocked; oil level too
  high | Replace SC75-SEP-02; clean orifice; drain to level |
| Safety valve blows | Pressure switch setting wrong; inlet valve not unloading | Check set points;
  service inlet valve SC75-IV-K |
| Compressor does not reach pressure | Air leaks in network; air filter blocked; inlet valve not opening
  | Leak survey; replace SC75-AF-03; check solenoid |
| Frequent load/unload cycling | Receiver too small or drain stuck open; dead band too narrow | Check
  drains; widen band to 0.5 bar |
""",
)

MANUALS = [GX400, HX550, SC75]


def parse(markup: str) -> list[list[Block]]:
    """Pages of blocks from the markup described in the module docstring."""
    pages: list[list[Block]] = []
    kind = ""  # the open multi-line block: "p", "bullets" or "table"
    lines: list[str] = []
    widths: tuple[float, ...] | None = None

    def flush() -> None:
        nonlocal kind, lines, widths
        if kind == "p":
            pages[-1].append(Block("p", text=" ".join(lines)))
        elif kind == "bullets":
            pages[-1].append(Block("bullets", items=tuple(lines)))
        elif kind == "table":
            rows = tuple(tuple(cell.strip() for cell in row.strip().strip("|").split("|")) for row in lines)
            pages[-1].append(Block("table", rows=rows, widths=widths))
            widths = None
        kind, lines = "", []

    for raw in markup.strip("\n").splitlines():
        line = raw.rstrip()
        if line == PAGE_BREAK:
            flush()
            pages.append([])
            continue
        if not pages:
            raise ValueError(f"markup must start with {PAGE_BREAK!r}")
        if not line:
            flush()
        elif line.startswith("  ") and kind in {"bullets", "table"}:
            lines[-1] += " " + line.strip()
        elif line.startswith(("# ", "## ")):
            flush()
            pages[-1].append(Block("h1" if line.startswith("# ") else "h2", text=line.split(" ", 1)[1]))
        elif line.startswith("@widths "):
            flush()
            widths = tuple(float(value) for value in line.split()[1:])
        elif line.startswith("|"):
            if kind != "table":
                flush()
                kind = "table"
            lines.append(line)
        elif line.startswith("- "):
            if kind != "bullets":
                flush()
                kind = "bullets"
            lines.append(line[2:])
        else:
            if kind != "p":
                flush()
                kind = "p"
            lines.append(line)
    flush()
    return pages


def _latin1(text: str) -> str:
    text.encode("latin-1")  # core fonts only cover latin-1; fail loudly on anything else
    return text


def render(manual: Manual) -> bytes:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    class ManualPDF(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "I", 8)
            self.set_text_color(90, 90, 90)
            title = _latin1(f"{manual.title}  |  {manual.doc_no}")
            self.cell(0, 5, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="R")
            self.ln(2)
            self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-13)
            self.set_font("Helvetica", "I", 8)
            self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = ManualPDF(format="A4")
    pdf.set_creation_date(CREATED)
    pdf.set_title(manual.title)
    pdf.set_author("rag-fed sample federation (fictional)")
    pdf.set_subject(manual.subject)
    pdf.set_creator("scripts/make_sample_pdf.py")
    pdf.set_margins(18, 15, 18)
    pdf.set_auto_page_break(True, margin=18)

    for number, blocks in enumerate(parse(manual.markup), start=1):
        pdf.add_page()
        for block in blocks:
            if block.kind == "h1":
                pdf.set_font("Helvetica", "B", 15)
                pdf.multi_cell(0, 7, _latin1(block.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(2)
            elif block.kind == "h2":
                pdf.ln(2)
                pdf.set_font("Helvetica", "B", 12)
                pdf.multi_cell(0, 6, _latin1(block.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(1)
            elif block.kind == "p":
                pdf.set_font("Helvetica", "", 10)
                pdf.multi_cell(0, 5, _latin1(block.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(1.5)
            elif block.kind == "bullets":
                pdf.set_font("Helvetica", "", 10)
                for item in block.items:
                    pdf.set_x(pdf.l_margin + 3)
                    pdf.multi_cell(0, 5, _latin1(f"- {item}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                    pdf.ln(0.8)
                pdf.ln(0.7)
            elif block.kind == "table":
                pdf.set_font("Helvetica", "", 9)
                with pdf.table(
                    col_widths=block.widths, text_align="LEFT", line_height=4.6, first_row_as_headings=True
                ) as table:
                    for row in block.rows:
                        cells = table.row()
                        for value in row:
                            cells.cell(_latin1(value))
                pdf.ln(2)
        if pdf.page_no() != number:
            raise SystemExit(
                f"{manual.path}: page {number} overflows onto page {pdf.page_no()}; "
                "shorten it or split it with another page break"
            )
    return bytes(pdf.output())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the sample federation's PDF manuals.")
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if a committed PDF differs from a fresh build",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=FEDERATION,
        help="federation folder to write into (default: the samples)",
    )
    args = parser.parse_args(argv)
    stale = []
    for manual in MANUALS:
        data = render(manual)
        target = args.out_dir / manual.path
        if args.check:
            if not target.is_file() or target.read_bytes() != data:
                stale.append(str(target))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"wrote {target} ({len(data):,} bytes)")
    if stale:
        print("out of date (run scripts/make_sample_pdf.py):\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
