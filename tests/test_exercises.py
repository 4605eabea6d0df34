"""The course's exercise checks (gmgan_lib/exercises): a solution passes on fresh inputs, a
template is "not attempted", wrong answers get "not yet" and a hint (printed: no traceback, no
line of the checker, not the answer), and left-over state cannot pass."""
from __future__ import annotations

import inspect
import re

import pytest
import torch

from gmgan_lib import exercises
from gmgan_lib.exercises import solutions as S
from gmgan_lib.nn import check_equivariance, functional as F

REFERENCE = {"01.1": (S.equivalent_size,), "01.2": (S.shift,),
             "01.3": (S.maxplus_identity,), "02.1": (S.beta_of, S.hopf_lax),
             "02.2": (S.sigma_of,), "02.3": (S.dilation_semigroup_difference,),
             "03.1": (S.orientation_roll,), "03.2": (S.half_turn_error,),
             "03.3": (S.error_type_of,), "04.1": (S.p4_conv_parameters,),
             "04.2": (S.interpolate,), "05.1": (S.fid_from_features,), "05.2": (S.class_kl,),
             "06.1": (S.turn_each,)}


def template(*args, **kwargs):
    raise NotImplementedError("your code here")


def test_every_exercise_has_a_reference():
    assert exercises.keys() == sorted(REFERENCE)


@pytest.mark.parametrize("key", sorted(REFERENCE))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_solutions_pass(key, seed, capsys):
    exercises.check(key, *REFERENCE[key], seed=seed)
    assert capsys.readouterr().out == f"Exercise {key}: correct\n"


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_an_untouched_template_is_not_attempted(key, capsys):
    exercises.check(key, *[template] * len(REFERENCE[key]))
    out = capsys.readouterr().out
    assert "not attempted yet" in out and f'exercises.solution("{key}")' in out


WRONG = {
    "01.1": (lambda a, b: a * b,),                                  # odd, but not the sum
    "01.2": (lambda f: torch.roll(f, 3, dims=-1),),                  # wraps instead of filling
    "01.3": (lambda n: torch.zeros(n, n, dtype=torch.float64),),    # zeros off the diagonal
    "02.1": (lambda a: 2 * a / (2 * a + 1), S.hopf_lax),
    "02.2": (lambda t, a: t ** (1 / a),),
    "02.3": (lambda f, a, t, s: torch.zeros_like(f),),              # not the difference
    "03.1": (lambda o, k: k,),                                      # steps, not quarter turns
    "03.2": (lambda layer, x: 0.0,),                                 # measures nothing
    "03.3": (lambda action: ValueError,),                            # the same answer always
    "04.1": (lambda c_in, c_out, k: c_out * c_in * k * k,),         # forgot the orientations
    "04.2": (lambda G, z0, z1, n: S.interpolate(G, z0, z1, n + 1)[:n],),  # stops short of z1
    "05.1": (lambda fa, fb: float(((fa.mean(0) - fb.mean(0)) ** 2).sum()),),  # means only
    "05.2": (lambda r, f, eps=1e-6: S.class_kl(f, r, eps),),        # KL the wrong way round
    "06.1": (lambda x, k: torch.rot90(x, int(k[0]), dims=(-2, -1)),),   # one turn for all
}


def not_yet(key: str, capsys) -> str:
    """The hint printed for a wrong answer (the check returned normally: nothing was raised)."""
    captured = capsys.readouterr()
    prefix = f"Exercise {key}: not yet: "
    assert captured.out.startswith(prefix) and captured.out.count("\n") == 1, captured.out
    assert captured.err == ""
    hint = captured.out[len(prefix):].strip()
    assert len(hint) > 20, hint
    return hint


@pytest.mark.parametrize("key", sorted(WRONG))
def test_wrong_answers_get_not_yet_with_a_hint(key, capsys):
    exercises.check(key, *WRONG[key], seed=0)
    not_yet(key, capsys)


def _lines(function) -> list[str]:
    """The lines of ``function``'s source worth looking for in an output (not ``)``, ``else:``)."""
    return [line.strip() for line in inspect.getsource(function).splitlines()
            if len(line.strip()) >= 12]


@pytest.mark.parametrize("key", sorted(WRONG))
def test_a_wrong_answer_shows_no_traceback_no_checker_code_and_not_the_answer(key, capsys):
    """What a student sees after a wrong answer: one line, no traceback, none of the checker's
    code, and none of the solution's lines (a hint points at the idea)."""
    exercises.check(key, *WRONG[key], seed=0)
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "Traceback" not in shown and "AssertionError" not in shown and 'File "' not in shown
    checker = exercises._CHECKS[key][0]
    for line in _lines(checker):
        assert line not in shown, f"the checker's line {line!r} is on screen:\n{shown}"
    for reference in REFERENCE[key]:
        body = [line for line in _lines(reference)[1:] if not line.startswith('"""')
                and not line.startswith("from ") and not line.startswith("import ")]
        for line in body:
            assert line not in shown, f"the solution's line {line!r} is on screen:\n{shown}"


def test_the_max_plus_identity_hint_leaves_the_answer_to_the_student(capsys):
    """Issue 27: the hint of 01.3 said "0 on the diagonal, -inf off it"."""
    exercises.check("01.3", *WRONG["01.3"], seed=0)
    hint = not_yet("01.3", capsys)
    assert "inf" not in hint and "diagonal" not in hint and "section 1" in hint


def _counts_smoothed_kl(real, fake, eps=1e-6):
    p = torch.bincount(real, minlength=10).double() + eps      # eps added to the counts
    q = torch.bincount(fake, minlength=10).double() + eps
    p, q = p / p.sum(), q / q.sum()
    return float((p * (p / q).log()).sum())


def _erosion_difference(f, alpha, t, s, size=9):
    """notebook 02's semigroup_error copied as it is: erosions, not dilations."""
    pad = 2 * size
    g = torch.nn.functional.pad(f, (pad,) * 4, value=-1.0)
    kt, ks = (F.power(size, alpha, t=v, dtype=torch.float64) for v in (t, s))
    kts = F.power(2 * size - 1, alpha, t=t + s, dtype=torch.float64)
    out = F.erosion_r2(F.erosion_r2(g, kt), ks) - F.erosion_r2(g, kts)
    return out[..., pad:-pad, pad:-pad]


def _cross_fade(G, z0, z1, steps):
    """04.2 with the images mixed instead of the latent vectors (the weights rightly spaced)."""
    from gmgan_lib.sampling import generate

    w = torch.linspace(0, 1, steps)[:, None, None, None]
    first, last = generate(G, torch.stack([z0, z1]))
    return (1 - w) * first + w * last


# Usual slips, and the words of the hint that names what is wrong with each.
DIAGNOSED = {
    "the counts smoothed (05.2)": ("05.2", _counts_smoothed_kl, "probabilities first"),
    "KL the wrong way round (05.2)": ("05.2", WRONG["05.2"][0], "not symmetric"),
    "the means only (05.1)": ("05.1", WRONG["05.1"][0], "means only"),
    "a roll that wraps (01.2)": ("01.2", WRONG["01.2"][0], "wraps around"),
    "a roll the wrong way (03.1)": ("03.1", lambda o, k: -k * o // 4, "wrong way round"),
    "turned clockwise (06.1)": ("06.1", lambda x, k: torch.stack(
        [torch.rot90(a, -int(t), dims=(-2, -1)) for a, t in zip(x, k)]), "clockwise"),
    "one turn for all (06.1)": ("06.1", WRONG["06.1"][0], "its own number"),
    "erosions for dilations (02.3)": ("02.3", _erosion_difference, "positive somewhere"),
    "a factor forgotten (04.1)": ("04.1", WRONG["04.1"][0], "4 times too few"),
    "the images mixed, not the latent vectors (04.2)": ("04.2", _cross_fade,
                                                        "Mix the two latent vectors first"),
    "unequal steps (04.2)": ("04.2", lambda G, z0, z1, n: S.interpolate(G, z0, z1, n + 1)[
        [*range(n - 1), n]], "equally spaced"),
}


@pytest.mark.parametrize("slip", sorted(DIAGNOSED))
def test_usual_slips_are_named(slip, capsys):
    key, answer, words = DIAGNOSED[slip]
    exercises.check(key, answer, seed=0)
    assert words in not_yet(key, capsys)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_cross_fade_is_told_to_mix_the_latent_vectors_not_the_spacing(seed, capsys):
    """04.2: images blended pixel by pixel, with w rightly spaced, pass both ends; the hint must
    point at the latent vectors, not at the spacing (which is right), and give no code."""
    exercises.check("04.2", _cross_fade, seed=seed)
    hint = not_yet("04.2", capsys)
    assert "latent vectors" in hint and "spaced" not in hint and "generate(" not in hint


def test_an_answer_that_raises_gets_the_error_and_its_line_not_a_traceback(capsys):
    def shift(f):
        out = torch.full_like(f, -1.0)
        out[..., 3:] = f[..., :-4]           # one column short
        return out

    exercises.check("01.2", shift, seed=0)
    hint = not_yet("01.2", capsys)
    assert hint.startswith("shift(...) raised RuntimeError")
    assert "out[..., 3:] = f[..., :-4]" in hint            # the student's line, named


def test_an_assert_in_the_answer_is_the_students_not_the_checkers(capsys):
    def beta_of(alpha):
        assert alpha > 0.9, "only for alpha near 1"
        return 2 * alpha / (2 * alpha - 1)

    exercises.check("02.1", beta_of, S.hopf_lax, seed=0)
    assert "beta_of(...) raised AssertionError: only for alpha near 1" in not_yet("02.1", capsys)


def test_a_result_the_check_cannot_use_is_feedback_too(capsys):
    exercises.check("04.2", lambda G, z0, z1, steps: "images", seed=0)
    assert "got 'images' (str)" in not_yet("04.2", capsys)


def test_a_list_for_a_tensor_is_named_in_one_line(capsys):
    """A list of turned images, not stacked: the feedback names it by its length and its items'
    shape; it once printed every value of every image."""
    exercises.check("06.1", lambda x, k: [torch.rot90(a, int(t), dims=(-2, -1))
                                          for a, t in zip(x, k)], seed=0)
    said = not_yet("06.1", capsys)
    assert "got a list of " in said and "tensors of shape (1, " in said, said
    assert len(said.splitlines()) == 1 and len(said) < 300, said


@pytest.mark.parametrize("value,said", [
    ([1, 1], "a list of 2 ints"), ([0.5, 0.25], "a list of 2 floats"),
    (["ab", "ab"], "a list of 2 strs"), ([None, None], "a list of 2 None values"),
    ([[], [1]], "a list of 2 lists"), ((torch.zeros(2, 3),), "a tuple of 1 tensor of shape (2, 3)"),
    ([torch.zeros(2), torch.zeros(3)], "a list of 2 tensors of different shapes"),
    ([1, 2.0], "a list of 2 items of different types"), ([], "an empty list"), ((), "an empty tuple")])
def test_a_container_is_described_by_what_it_holds(value, said):
    from gmgan_lib.exercises import _describe
    assert _describe(value) == said


def test_a_long_value_is_cut_short(capsys):
    exercises.check("04.2", lambda G, z0, z1, steps: "x" * 500, seed=0)
    said = not_yet("04.2", capsys)
    assert "...' (str)" in said or "... (str)" in said, said
    assert len(said) < 300, said


def _centring_fid(fa, fb):
    fa -= fa.mean(0)                         # centres the caller's arrays in place ...
    fb -= fb.mean(0)
    return S.fid_from_features(fa, fb)       # ... so the mean term it forgot is 0 here


def _zeroing_kl(real, fake, eps=1e-6):
    real.zero_()                             # the caller's labels, all class 0 ...
    fake.zero_()
    return S.class_kl(real, fake, eps)       # ... and their KL 0


def _zeroing_interpolate(G, z0, z1, steps):
    z0.zero_()
    z1.zero_()
    return S.interpolate(G, z0, z1, steps)   # G(0) everywhere


def _filling_shift(f):
    return f.fill_(-1.0)                     # the caller's image, all background


# Wrong answers that change their inputs in place: the check once compared them with references
# computed afterwards, on the same (changed) objects, and said "correct" (issue 28, item 5).
MUTATING = {"05.1": (_centring_fid,), "05.2": (_zeroing_kl,), "04.2": (_zeroing_interpolate,),
            "01.2": (_filling_shift,)}


@pytest.mark.parametrize("key", sorted(MUTATING))
@pytest.mark.parametrize("seed", [0, 1])
def test_wrong_answers_that_change_their_inputs_fail(key, seed, capsys):
    exercises.check(key, *MUTATING[key], seed=seed)
    not_yet(key, capsys)


def test_the_mirror_trick_passes_exercise_02_3(capsys):
    """-semigroup_error(-f): notebook 02's erosion difference applied to -f (background +1)."""
    for seed in range(3):
        exercises.check("02.3", lambda f, a, t, s: -_erosion_difference(-f, a, t, s), seed=seed)
    assert capsys.readouterr().out == "Exercise 02.3: correct\n" * 3


@pytest.mark.parametrize("measure", [
    lambda layer, x: layer.check_equivariance(x, k=2),                # the method
    lambda layer, x: check_equivariance(layer, x, k=2),               # the function
])
def test_every_way_of_measuring_passes_exercise_03_2(measure, capsys):
    exercises.check("03.2", measure, seed=0)
    assert capsys.readouterr().out == "Exercise 03.2: correct\n"


def test_state_left_from_an_earlier_run_cannot_pass(capsys):
    """An answer fixed to the notebook's old size (n = 4) or old images fails on fresh inputs."""
    fixed = S.maxplus_identity(4)
    exercises.check("01.3", lambda n: fixed, seed=0)
    assert re.search(r"should be (\d) x \1, got shape \(4, 4\)", not_yet("01.3", capsys))
    exercises.check("01.1", lambda a, b: 5, seed=0)        # the answer for 3 and 3 only
    not_yet("01.1", capsys)


def test_fresh_inputs_at_every_call_without_a_seed():
    seen = []

    def spy(f):
        seen.append(f.clone())
        return S.shift(f)

    exercises.check("01.2", spy)
    exercises.check("01.2", spy)
    assert len(seen) == 4 and not (seen[0].shape == seen[2].shape and torch.equal(seen[0], seen[2]))


def test_solution_is_shown_once_as_code(capsys):
    """Issue 27: it printed the source and returned it too, so a notebook showed it twice.
    Now nothing is printed; the notebook displays the returned object once, as highlighted code
    (Markdown), and a console its plain source."""
    from IPython.core.formatters import DisplayFormatter

    shown = exercises.solution("02.1")
    assert capsys.readouterr().out == ""
    data, _ = DisplayFormatter().format(shown)
    source = inspect.getsource(S.beta_of).rstrip() + "\n\n" + inspect.getsource(S.hopf_lax).rstrip()
    assert data["text/markdown"] == f"```python\n{source}\n```"
    assert data["text/plain"] == source == repr(shown)


def test_bad_keys_and_arities_are_refused():
    with pytest.raises(ValueError, match="key must name an exercise"):
        exercises.check("9.9", S.shift)
    with pytest.raises(ValueError, match="key must name an exercise"):
        exercises.solution("01")
    with pytest.raises(TypeError, match="checks 2 function"):
        exercises.check("02.1", S.beta_of)


def test_the_notebooks_templates_are_the_checked_functions():
    """Every check cell of the course names the function its template defines, with the
    solution's parameters: a student's completed template is what the check calls."""
    import inspect
    import re
    from pathlib import Path

    seen = set()
    for twin in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.py")):
        text = twin.read_text()
        for key, names in re.findall(r'exercises\.check\("([\d.]+)", ([\w, ]+)\)', text):
            seen.add(key)
            for name, reference in zip(names.split(", "), REFERENCE[key]):
                assert name == reference.__name__, (twin.name, key, name)
                params = list(inspect.signature(reference).parameters)
                required = [p for p in params if inspect.signature(reference).parameters[p].default
                            is inspect.Parameter.empty]
                template = re.search(rf"def {name}\(([^)]*)\):\n    raise NotImplementedError",
                                     text)
                assert template, f"{twin.name}: no template for {name}"
                assert [p.split("=")[0].strip() for p in template.group(1).split(",")][
                    :len(required)] == required, (twin.name, name)
    assert seen == set(REFERENCE)


def test_an_answer_that_never_finishes_is_stopped_with_a_hint(monkeypatch, capsys):
    """A student's endless loop (even one that swallows every Exception) is stopped after the
    time limit, with a hint; the alarm is given back afterwards."""
    import signal
    import time

    monkeypatch.setattr(exercises, "TIME_LIMIT_S", 0.3)

    def shift(f):
        while True:
            try:
                time.sleep(0.01)
            except Exception:     # noqa: BLE001 - a student's catch-all cannot hold the limit
                pass

    started = time.perf_counter()
    exercises.check("01.2", shift, seed=0)
    assert time.perf_counter() - started < 5
    hint = not_yet("01.2", capsys)
    assert "stopped your function after 0.3 s" in hint and "loop" in hint
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
