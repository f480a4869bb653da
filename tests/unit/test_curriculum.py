"""The curriculum seed data shipped in domain.curriculum loads and answers lookups."""

from importlib.resources import files

import pytest

from domain.curriculum import (
    Curriculum,
    UnknownObjectiveError,
    UnknownSubjectError,
    load_curriculum,
)


@pytest.fixture
def curriculum() -> Curriculum:
    return load_curriculum()


def test_mathematics_grades_3_to_6_has_fourteen_objectives(curriculum: Curriculum) -> None:
    objectives = [o for o in curriculum.objectives(subject="MA") if o.grades == "3-6"]

    assert [o.local_code for o in objectives] == [f"T{n}" for n in range(1, 15)]


def test_objective_codes_are_unique_across_grade_bands(curriculum: Curriculum) -> None:
    objectives = curriculum.objectives()

    codes = [o.code for o in objectives]

    assert len(codes) == len(set(codes))
    assert all(o.code == f"{o.subject}.{o.grades}.{o.local_code}" for o in objectives)


def test_objective_is_found_by_its_project_code(curriculum: Curriculum) -> None:
    objective = curriculum.objective("MA.3-6.T5")

    assert objective.subject == "MA"
    assert objective.grades == "3-6"
    assert objective.local_code == "T5"
    assert objective.eperusteet_id == 469467
    assert objective.curriculum == "POPS2014"
    assert "ongelmanratkaisu" in objective.title_fi


def test_unknown_objective_code_error_names_the_code(curriculum: Curriculum) -> None:
    with pytest.raises(UnknownObjectiveError) as raised:
        curriculum.objective("MA.3-6.T99")

    assert raised.value.code == "MA.3-6.T99"
    assert "'MA.3-6.T99'" in str(raised.value)
    assert "/api/v1/curriculum/objectives" in str(raised.value)


def test_unknown_objective_error_is_a_lookup_error() -> None:
    assert issubclass(UnknownObjectiveError, LookupError)
    assert issubclass(UnknownSubjectError, LookupError)


def test_objective_code_without_grade_band_suggests_the_full_code(
    curriculum: Curriculum,
) -> None:
    with pytest.raises(UnknownObjectiveError) as raised:
        curriculum.objective("MA.T5")

    assert raised.value.suggestions == ("MA.3-6.T5",)
    assert "did you mean 'MA.3-6.T5'?" in str(raised.value)


def test_every_objective_has_a_finnish_and_english_title(curriculum: Curriculum) -> None:
    objectives = curriculum.objectives()

    assert objectives
    assert all(o.title_fi.strip() and o.title_en.strip() for o in objectives)


def test_only_the_motivation_objective_leaves_the_grade_alone(curriculum: Curriculum) -> None:
    not_graded = [o.code for o in curriculum.objectives("MA") if not o.affects_grade]

    assert not_graded == ["MA.3-6.T1"]


def test_content_area_ranges_are_expanded_to_each_area(curriculum: Curriculum) -> None:
    assert curriculum.objective("MA.3-6.T1").content_areas == ("S1", "S2", "S3", "S4", "S5")
    assert curriculum.objective("MA.3-6.T8").content_areas == ("S2",)
    assert curriculum.objective("MA.3-6.T1").transversal == ("L1", "L3", "L5")
    assert curriculum.objective("MA.3-6.T3").transversal == ()


def test_objectives_refer_only_to_known_content_areas_and_competences(
    curriculum: Curriculum,
) -> None:
    areas = {(a.subject, a.grades, a.local_code) for a in curriculum.content_areas()}
    competences = {c.code for c in curriculum.transversal_competences("POPS2014")}

    for objective in curriculum.objectives():
        for area in objective.content_areas:
            assert (objective.subject, objective.grades, area) in areas, objective.code
        assert set(objective.transversal) <= competences, objective.code


def test_objectives_of_a_subject_without_seed_data_are_empty(curriculum: Curriculum) -> None:
    assert curriculum.objectives(subject="BI") == []


def test_subject_names_come_in_finnish_swedish_and_english(curriculum: Curriculum) -> None:
    mathematics = curriculum.subject("MA")

    assert mathematics.name_fi == "Matematiikka"
    assert mathematics.name_sv == "Matematik"
    assert mathematics.name_en == "Mathematics"


def test_every_subject_has_a_finnish_and_english_name(curriculum: Curriculum) -> None:
    subjects = curriculum.subjects()

    assert len(subjects) == 29
    assert all(s.name_fi and s.name_en for s in subjects)


def test_unknown_subject_code_error_names_the_code(curriculum: Curriculum) -> None:
    with pytest.raises(UnknownSubjectError, match="'ZZ'"):
        curriculum.subject("ZZ")


def test_grades_follow_the_finnish_scale(curriculum: Curriculum) -> None:
    assert curriculum.grades() == ["4", "5", "6", "7", "8", "9", "10", "S", "H", "O"]


def test_transversal_competences_of_both_core_curricula_are_known(
    curriculum: Curriculum,
) -> None:
    pops = curriculum.transversal_competences("POPS2014")
    lops = curriculum.transversal_competences("LOPS2019")

    assert [c.code for c in pops] == [f"L{n}" for n in range(1, 8)]
    assert all(c.eperusteet_id is not None for c in pops)
    assert [c.order for c in lops] == [1, 2, 3, 4, 5, 6]
    assert all(c.code is None and c.title_fi and c.title_en for c in lops)


def test_changing_a_returned_list_leaves_the_curriculum_unchanged(
    curriculum: Curriculum,
) -> None:
    curriculum.objectives().clear()
    curriculum.grades().append("11")

    assert len(curriculum.objectives()) == 14
    assert "11" not in curriculum.grades()


def test_the_curriculum_is_loaded_once() -> None:
    assert load_curriculum() is load_curriculum()


def test_the_sources_and_licences_ship_with_the_data() -> None:
    sources = files("domain.curriculum") / "data" / "SOURCES.md"

    text = sources.read_text(encoding="utf-8")

    assert "Perusopetuksen opetussuunnitelman perusteet 2014, Opetushallitus" in text
    assert "EUPL" in text


def test_every_objective_the_demo_uses_has_a_learner_title_in_finnish_swedish_and_english(
    curriculum: Curriculum,
) -> None:
    for objective in curriculum.objectives("MA"):
        titles = objective.learner_titles()
        assert set(titles) == {"fi", "sv", "en"}, objective.code
        assert titles["en"].startswith(("I can ", "I understand ", "I enjoy ")), objective.code


def test_grades_have_their_meaning_on_the_finnish_scale_in_each_language(
    curriculum: Curriculum,
) -> None:
    assert curriculum.grade_name("9", "fi") == "kiitettävä"
    assert curriculum.grade_name("4", "sv") == "underkänd"
    assert curriculum.grade_name("S", "en") is not None
