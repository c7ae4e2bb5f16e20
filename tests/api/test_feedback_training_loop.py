"""The closed loop of issue 15 on real processes: engineers chat through the gateway and judge what they
were shown, the judgements land only at the sites that own the passages, one federated round trains on
them, the new embedder is rolled out, and questions never trained on are retrieved better than before.

Two site service processes and a gateway process on loopback; ``ragfed train`` (Flower's simulation
engine over the sites' own folders) and ``ragfed model rollout --wait`` as an operator runs them.

The plant's engineers call each machine by a nickname ("the beast" is the jaw crusher), which no manual
uses: the packaged embedder cannot know it, and a keyword index cannot match it. Each site's manuals cover
five topics for each of its three machines. The engineers' judged questions name a machine by nickname
on three topics; the held-out questions name it on the other two. Only what the model learned from the
judgements (nickname -> machine) can raise the held-out ranking, so a gain shows the loop works, end to
end, without being fitted to any benchmark.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from openai import OpenAI
from typer.testing import CliRunner

from api.gateway.keystore import KeyStore, Role
from rag_fed.cli.main import app as ragfed
from rag_fed.config import get_settings
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.embedders.base import Embedder
from rag_fed.federation.models import ModelRegistry
from rag_fed.feedback import FeedbackLog
from rag_fed.types import Citation
from tests.api.conftest import folder_federation_services
from tests.api.procs import Service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MACHINES = {  # site -> machine -> what its engineers call it
    "north": {"jaw crusher JC-1": "the beast", "ball mill BM-2": "big bertha", "overland conveyor OC-3": "the snake"},
    "south": {
        "slurry pump SP-4": "the sucker",
        "screw compressor SC-5": "the wheezer",
        "cooling fan CT-6": "the windmill",
    },
}
TOPICS = {  # topic -> (section title, text); {m} is the machine, {n} makes each machine's values its own
    "lubrication": (
        "Lubrication of the {m}",
        "Grease the {m} main bearings with EP2 grease every {n}0 running hours, {n} shots per point, and check the "
        "oil level weekly.",
    ),
    "wear": (
        "Wear part replacement on the {m}",
        "Replace the {m} liners when their thickness is under {n} mm; lock out, remove the guard and lift the old "
        "liners with the lifting lugs.",
    ),
    "motor": (
        "Drive motor of the {m}",
        "The {m} is driven by a {n}5 kW motor; measure its insulation resistance with a 500 V tester before a "
        "restart after any wash-down.",
    ),
    "faults": (
        "Alarms and trips of the {m}",
        "When the {m} trips on high vibration above {n} mm/s, check the foundation bolts and the drive alignment "
        "before a reset.",
    ),
    "inspection": (
        "Daily inspection of the {m}",
        "Each shift walk the {m}, listen for knocking, look for oil leaks and record the bearing temperatures in "
        "the logbook; the limit is {n}0 C.",
    ),
}
QUESTIONS = {
    "lubrication": "how often do we grease {k}?",
    "wear": "when do the liners on {k} get changed?",
    "motor": "what size motor drives {k}?",
    "faults": "{k} tripped on vibration, what do I check?",
    "inspection": "what is on the shift walk-round for {k}?",
}
JUDGED, HELD_OUT = ("lubrication", "wear", "motor"), ("faults", "inspection")
# Small enough for CI on two cores, strong enough to learn nine nicknames from nine judged questions a site.
TRAINING = {
    "RAGFED_TRAINING__PAIRS__SOURCE": "feedback",
    "RAGFED_TRAINING__PAIRS__HARD_NEGATIVES": "1",
    "RAGFED_TRAINING__TRAIN_TOP_LAYERS": "1",
    "RAGFED_TRAINING__MAX_SEQ_LENGTH": "64",
    "RAGFED_TRAINING__BATCH_SIZE": "8",
    "RAGFED_TRAINING__LOCAL_EPOCHS": "3",
    "RAGFED_TRAINING__LEARNING_RATE": "1e-4",
    "COLUMNS": "200",
}


@dataclass(frozen=True)
class Question:
    text: str
    site_id: str
    doc_id: str
    anchor: str

    @property
    def label(self) -> str:
        return f"[{self.site_id}:{self.doc_id}#{self.anchor}]"


def _doc_id(machine: str, topic: str) -> str:
    return f"{machine.split()[-1].lower()}-{topic}.md"


def _questions(topics: tuple[str, ...]) -> list[Question]:
    questions = []
    for site_id, machines in MACHINES.items():
        for machine, nickname in machines.items():
            for topic in topics:
                title = TOPICS[topic][0].format(m=machine)
                questions.append(Question(QUESTIONS[topic].format(k=nickname), site_id, _doc_id(machine, topic), title))
    return questions


def _write_manuals(folder: Path, site_id: str) -> Path:
    folder.mkdir(parents=True)
    offset = 0 if site_id == "north" else 3
    for number, machine in enumerate(MACHINES[site_id], start=2 + offset):
        for topic, (title, text) in TOPICS.items():
            body = f"# {title.format(m=machine)}\n\n{text.format(m=machine, n=number)}\n"
            (folder / _doc_id(machine, topic)).write_text(body)
    return folder


@dataclass
class Loop:
    data_dir: Path
    home: Path
    gateway: Service
    engineer: str
    evaluator: str


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[Loop]:
    root = tmp_path_factory.mktemp("feedback-loop")
    manuals = {site_id: _write_manuals(root / "corpus" / site_id, site_id) for site_id in MACHINES}
    with folder_federation_services(root, manuals, packaged_embedder, deadline_s=60) as federation:
        home = root / "gateway"
        evaluator = KeyStore(GatewaySettings(home=home).database).create(Role.EVALUATOR, None).key
        yield Loop(root / "data", home, federation.gateway, federation.engineer_key, evaluator)


def _reciprocal_ranks(loop: Loop, questions: list[Question]) -> list[float]:
    """1/rank of each question's own section among the federation's dense results (0 past rank 10)."""
    ranks = []
    for question in questions:
        body = {"question": question.text, "k": 10, "mode": "dense", "want_answer": False}
        headers = {"Authorization": f"Bearer {loop.evaluator}"}
        reply = httpx.post(f"{loop.gateway.url}/v1/query", json=body, headers=headers, timeout=120)
        assert reply.status_code == 200, reply.text
        found = [(p["citation"]["site_id"], p["citation"]["doc_id"]) for p in reply.json()["passages"]]
        wanted = (question.site_id, question.doc_id)
        ranks.append(1 / (found.index(wanted) + 1) if wanted in found else 0.0)
    return ranks


def _chat_and_judge(loop: Loop, question: Question) -> None:
    """An engineer asks, reads the cited answer, marks the right section useful and a wrong one not."""
    client = OpenAI(base_url=f"{loop.gateway.url}/v1", api_key=loop.engineer, timeout=120, max_retries=0)
    completion = client.chat.completions.create(
        model="rag-fed", messages=[{"role": "user", "content": question.text}], max_tokens=48
    )
    extras = (completion.model_extra or {})["rag_fed"]
    cited = [Citation.model_validate(citation).label for citation in extras.get("citations", [])]
    wrong = [label for label in cited if label != question.label and label.startswith(f"[{question.site_id}:")]
    judgements = [(question.label, True)] + [(label, False) for label in wrong[:1]]
    for target, useful in judgements:
        payload = {"conversation_id": completion.id, "useful": useful, "target": target, "question": question.text}
        headers = {"Authorization": f"Bearer {loop.engineer}"}
        response = httpx.post(f"{loop.gateway.url}/v1/feedback", json=payload, headers=headers, timeout=60)
        assert response.status_code == 202, response.text
        assert response.json()["forwarded"] is True and response.json()["site_id"] == question.site_id


def _operator(loop: Loop, *args: str) -> str:
    result = CliRunner().invoke(ragfed, [*args, "--home", str(loop.home)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def training_env(loop: Loop) -> Iterator[None]:
    patch = pytest.MonkeyPatch()
    patch.setenv("RAGFED_DATA_DIR", str(loop.data_dir))
    for key, value in TRAINING.items():
        patch.setenv(key, value)
    get_settings.cache_clear()
    yield
    patch.undo()
    get_settings.cache_clear()


def test_judged_chats_train_a_model_that_ranks_unseen_questions_better(loop: Loop, training_env: None) -> None:
    judged, held_out = _questions(JUDGED), _questions(HELD_OUT)
    before = _reciprocal_ranks(loop, held_out)

    for question in judged:
        _chat_and_judge(loop, question)
    # Each judgement is at the site that owns the passage, and only there.
    for site_id in MACHINES:
        rows = list(FeedbackLog.at_site(loop.data_dir / site_id).all())
        own = {q.text for q in judged if q.site_id == site_id}
        assert {row.question for row in rows} == own
        assert {row.doc_id for row in rows if row.useful} == {q.doc_id for q in judged if q.site_id == site_id}
    assert not list(loop.home.rglob("feedback.db"))

    output = _operator(loop, "train", "--rounds", "1")
    [entry] = [e for e in ModelRegistry(loop.home / "models").entries() if e.source.startswith("federated training")]
    assert f"ragfed model rollout {entry.version}" in output
    _operator(loop, "model", "rollout", entry.version, "--wait", "--timeout", "600")

    after = _reciprocal_ranks(loop, held_out)
    print(f"held-out MRR@10 (dense, {len(held_out)} questions): {np.mean(before):.3f} -> {np.mean(after):.3f}")
    # The loop's point: questions never judged are ranked better with the model trained on the judgements.
    assert float(np.mean(after)) >= float(np.mean(before)) + 0.1, (before, after)
    assert sum(a > b for a, b in zip(after, before, strict=True)) > sum(
        a < b for a, b in zip(after, before, strict=True)
    ), (before, after)
