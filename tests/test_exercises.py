"""The course's exercise checks (gmgan_lib/exercises): a solution passes on fresh inputs, a
template is "not attempted", wrong answers fail with a hint, and left-over state cannot pass."""
from __future__ import annotations

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


@pytest.mark.parametrize("key", sorted(WRONG))
def test_wrong_answers_fail_with_a_hint(key):
    with pytest.raises(AssertionError, match=r"\w"):
        exercises.check(key, *WRONG[key], seed=0)


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
def test_wrong_answers_that_change_their_inputs_fail(key, seed):
    with pytest.raises(AssertionError, match=r"\w"):
        exercises.check(key, *MUTATING[key], seed=seed)


def test_the_mirror_trick_passes_exercise_02_3(capsys):
    """-semigroup_error(-f): notebook 02's erosion difference applied to -f (background +1)."""
    def semigroup_error(f, alpha, t, s, size=9):
        pad = 2 * size
        g = torch.nn.functional.pad(f, (pad,) * 4, value=-1.0)
        kt, ks = (F.power(size, alpha, t=v, dtype=torch.float64) for v in (t, s))
        kts = F.power(2 * size - 1, alpha, t=t + s, dtype=torch.float64)
        out = F.erosion_r2(F.erosion_r2(g, kt), ks) - F.erosion_r2(g, kts)
        return out[..., pad:-pad, pad:-pad]

    for seed in range(3):
        exercises.check("02.3", lambda f, a, t, s: -semigroup_error(-f, a, t, s), seed=seed)
    assert capsys.readouterr().out == "Exercise 02.3: correct\n" * 3


@pytest.mark.parametrize("measure", [
    lambda layer, x: layer.check_equivariance(x, k=2),                # the method
    lambda layer, x: check_equivariance(layer, x, k=2),               # the function
])
def test_every_way_of_measuring_passes_exercise_03_2(measure, capsys):
    exercises.check("03.2", measure, seed=0)
    assert capsys.readouterr().out == "Exercise 03.2: correct\n"


def test_state_left_from_an_earlier_run_cannot_pass():
    """An answer fixed to the notebook's old size (n = 4) or old images fails on fresh inputs."""
    fixed = S.maxplus_identity(4)
    with pytest.raises(AssertionError, match="n x n"):
        exercises.check("01.3", lambda n: fixed, seed=0)
    with pytest.raises(AssertionError):
        exercises.check("01.1", lambda a, b: 5, seed=0)        # the answer for 3 and 3 only


def test_fresh_inputs_at_every_call_without_a_seed():
    seen = []

    def spy(f):
        seen.append(f.clone())
        return S.shift(f)

    exercises.check("01.2", spy)
    exercises.check("01.2", spy)
    assert len(seen) == 4 and not (seen[0].shape == seen[2].shape and torch.equal(seen[0], seen[2]))


def test_solution_prints_the_reference_source(capsys):
    text = exercises.solution("01.3")
    assert "def maxplus_identity" in text and text in capsys.readouterr().out


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
