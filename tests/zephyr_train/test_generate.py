"""MT-Bench and AlpacaEval answers from the smoke SFT model, in FastChat's and AlpacaEval's
formats (issue 8)."""

from __future__ import annotations

import json

import pytest

from tests.support.paths import BENCHMARKS
from zephyr_train.backends import TransformersBackend
from zephyr_train.benchmarks import MTBenchAnswerFile
from zephyr_train.generate import GenerateArguments, main, run

pytestmark = pytest.mark.slow
MT_BENCH = BENCHMARKS / "mt_bench_question.jsonl"
ALPACA_EVAL = BENCHMARKS / "alpaca_eval_instructions.jsonl"
FASTCHAT_KEYS = {"question_id", "answer_id", "model_id", "choices", "tstamp"}
ALPACA_KEYS = {"instruction", "output", "generator", "dataset"}


class RecordingBackend:
    """The real transformers backend, recording every prompt and temperature it is given."""

    def __init__(self, backend):
        self.backend = backend
        self.calls: list[tuple[str, float]] = []

    def render(self, conversation):
        return self.backend.render(conversation)

    def generate(self, prompts, *, temperature, max_new_tokens):
        self.calls += [(p, temperature) for p in prompts]
        return self.backend.generate(prompts, temperature=temperature,
                                     max_new_tokens=max_new_tokens)


@pytest.fixture(scope="module")
def model_dir(sft_checkpoint):
    return sft_checkpoint[0]


@pytest.fixture(scope="module")
def backend(model_dir):
    return TransformersBackend(str(model_dir))


@pytest.fixture(scope="module")
def real_questions():
    return [json.loads(line) for line in MT_BENCH.read_text().splitlines()]


@pytest.fixture
def one_per_category(real_questions, tmp_path):
    """A handful of real MT-Bench questions: the first of each category."""
    picked = {}
    for q in real_questions:
        picked.setdefault(q["category"], q)
    path = tmp_path / "question.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in picked.values()))
    return path, list(picked.values())


def _args(model_dir, tmp_path, **kw):
    return GenerateArguments(model=str(model_dir), output_dir=str(tmp_path / "eval"),
                             max_new_tokens=8, batch_size=3, **kw)


def test_mt_bench_answers_in_fastchat_format(model_dir, backend, one_per_category, tmp_path):
    questions_file, questions = one_per_category
    assert len(questions) == 8  # writing, roleplay, reasoning, math, coding, extraction, stem, hum.
    recorder = RecordingBackend(backend)
    args = _args(model_dir, tmp_path, benchmark="mt_bench", questions=str(questions_file),
                 model_id="zephyr-smoke")
    path = run(args, backend=recorder)
    assert path == tmp_path / "eval" / "mt_bench" / "model_answer" / "zephyr-smoke.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["question_id"] for r in records] == sorted(q["question_id"] for q in questions)
    for rec in records:
        assert set(rec) == FASTCHAT_KEYS
        assert isinstance(rec["question_id"], int) and rec["model_id"] == "zephyr-smoke"
        assert isinstance(rec["answer_id"], str) and len(rec["answer_id"]) == 22
        assert isinstance(rec["tstamp"], float)
        assert len(rec["choices"]) == 1 and rec["choices"][0]["index"] == 0
        turns = rec["choices"][0]["turns"]
        assert len(turns) == 2 and all(isinstance(t, str) for t in turns)
    # FastChat's per-category temperatures, both turns.
    category = {q["question_id"]: q["category"] for q in questions}
    expected = {"writing": 0.7, "roleplay": 0.7, "math": 0.0, "coding": 0.0, "reasoning": 0.0,
                "extraction": 0.0, "stem": 0.1, "humanities": 0.1}
    first_turn = {q["turns"][0]: q["question_id"] for q in questions}
    seen = {}
    for prompt, temperature in recorder.calls:
        for text, qid in first_turn.items():
            if f"<|user|>\n{text}</s>\n" in prompt:
                seen.setdefault(qid, set()).add(temperature)
    assert {qid: temps for qid, temps in seen.items()} == {
        qid: {expected[category[qid]]} for qid in category}
    assert len(recorder.calls) == 16  # 8 questions x 2 turns


def test_second_turn_prompt_holds_the_first_answer(model_dir, backend, one_per_category,
                                                   tmp_path):
    questions_file, questions = one_per_category
    recorder = RecordingBackend(backend)
    path = run(_args(model_dir, tmp_path, benchmark="mt_bench", questions=str(questions_file),
                     max_items=1), backend=recorder)
    (record,) = [json.loads(line) for line in path.read_text().splitlines()]
    question = next(q for q in questions if q["question_id"] == record["question_id"])
    first_answer = record["choices"][0]["turns"][0]
    assert first_answer  # the model said something
    turn_two = (f"<|user|>\n{question['turns'][0]}</s>\n"
                f"<|assistant|>\n{first_answer}</s>\n"
                f"<|user|>\n{question['turns'][1]}</s>\n"
                "<|assistant|>\n")
    assert [p for p, _ in recorder.calls] == [f"<|user|>\n{question['turns'][0]}</s>\n"
                                              "<|assistant|>\n", turn_two]


def test_alpaca_eval_outputs_in_its_format(model_dir, tmp_path):
    path = main(["--benchmark", "alpaca_eval", "--model", str(model_dir),
                 "--questions", str(ALPACA_EVAL), "--limit", "5", "--batch_size", "2",
                 "--max_new_tokens", "8", "--output_dir", str(tmp_path / "eval")])
    assert path == tmp_path / "eval" / "alpaca_eval" / model_dir.name / "model_outputs.json"
    outputs = json.loads(path.read_text())
    real = [json.loads(line) for line in ALPACA_EVAL.read_text().splitlines()[:5]]
    assert isinstance(outputs, list) and len(outputs) == 5
    for out, item in zip(outputs, real, strict=True):
        assert set(out) == ALPACA_KEYS
        assert out["instruction"] == item["instruction"] and out["dataset"] == item["dataset"]
        assert out["generator"] == model_dir.name and isinstance(out["output"], str)


def test_interrupted_mt_bench_run_is_finished_without_duplicates(model_dir, backend,
                                                                 one_per_category, tmp_path):
    questions_file, questions = one_per_category
    args = _args(model_dir, tmp_path, benchmark="mt_bench", questions=str(questions_file))
    run(_args(model_dir, tmp_path, benchmark="mt_bench", questions=str(questions_file),
              max_items=3), backend=backend)
    path = args.output_path
    before = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(before) == 3
    # A kill in the middle of a write leaves half a line behind.
    with open(path, "a") as f:
        f.write('{"question_id": 999, "answer_id": "abc", "choi')
    recorder = RecordingBackend(backend)
    run(args, backend=recorder)
    after = [json.loads(line) for line in path.read_text().splitlines()]
    ids = [r["question_id"] for r in after]
    assert ids == sorted(q["question_id"] for q in questions) and len(set(ids)) == len(ids)
    # Finished answers were kept as they were, not regenerated.
    by_id = {r["question_id"]: r for r in after}
    assert all(by_id[r["question_id"]] == r for r in before)
    assert len(recorder.calls) == 2 * (len(questions) - 3)
    assert MTBenchAnswerFile(path).load().keys() == set(ids)


def test_interrupted_alpaca_eval_run_is_finished_without_duplicates(model_dir, backend,
                                                                    tmp_path):
    def args(**kw):
        return _args(model_dir, tmp_path, benchmark="alpaca_eval", questions=str(ALPACA_EVAL),
                     limit=7, **kw)

    run(args(max_items=3), backend=backend)
    partial = json.loads(args().output_path.read_text())
    assert len(partial) == 3
    recorder = RecordingBackend(backend)
    run(args(), backend=recorder)
    final = json.loads(args().output_path.read_text())
    real = [json.loads(line)["instruction"] for line in ALPACA_EVAL.read_text().splitlines()[:7]]
    assert [o["instruction"] for o in final] == real  # eval-set order, each once
    assert final[:3] == partial
    assert len(recorder.calls) == 4


def test_bad_question_file_fails_before_loading_a_model(tmp_path):
    bad = tmp_path / "question.jsonl"
    bad.write_text(json.dumps({"question_id": 1, "category": "math"}) + "\n")
    with pytest.raises(ValueError, match=r"record 1: missing \['turns'\]"):
        main(["--benchmark", "mt_bench", "--model", str(tmp_path / "no-model"),
              "--questions", str(bad)])


def test_unknown_benchmark():
    with pytest.raises(ValueError, match="not one of"):
        main(["--benchmark", "arena_hard", "--model", "x/y"])
