"""The pages' languages: Finnish (the default), Swedish and English; texts, dates, numbers.

Over 500 lines because it holds every text of every page in the three languages, side by
side, so a text missing in one language shows in review.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from projections.reads.plain_language import LEVEL_TEXTS

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Translator", "level_text"]

DEFAULT_LANGUAGE = "fi"
#: Each language, named in itself (how a language switch should name it).
LANGUAGES: Mapping[str, str] = {"fi": "Suomi", "sv": "Svenska", "en": "English"}

#: The attainment levels in Swedish; Finnish and English come from
#: projections.reads.plain_language.LEVEL_TEXTS.
_LEVEL_TEXTS_SV = {
    1: "ännu inte uppnått",
    2: "delvis uppnått",
    3: "väl uppnått",
    4: "utmärkt uppnått",
}

# key: (fi, sv, en). Placeholders are str.format fields.
_MESSAGES: dict[str, tuple[str, str, str]] = {
    # -- frame
    "skip_to_content": ("Siirry sisältöön", "Hoppa till innehållet", "Skip to content"),
    "language": ("Kieli", "Språk", "Language"),
    "main_nav": ("Päävalikko", "Huvudmeny", "Main menu"),
    "sign_out": ("Kirjaudu ulos", "Logga ut", "Sign out"),
    "signed_in_as": ("Kirjautuneena: {who}", "Inloggad: {who}", "Signed in: {who}"),
    "signed_in_name": (
        "Kirjautuneena: {name} ({role})",
        "Inloggad: {name} ({role})",
        "Signed in: {name} ({role})",
    ),
    "role_teacher": ("opettaja", "lärare", "teacher"),
    "role_guardian": ("huoltaja", "vårdnadshavare", "guardian"),
    "role_student": ("oppilas", "elev", "student"),
    "role_admin": ("ylläpitäjä", "administratör", "administrator"),
    "role_auditor": ("tarkastaja", "granskare", "auditor"),
    "role_service": ("palvelu", "tjänst", "service"),
    "nav_classes": ("Omat luokat", "Mina klasser", "My classes"),
    "nav_children": ("Lapseni", "Mina barn", "My children"),
    "nav_own": ("Omat tietoni", "Mina uppgifter", "My record"),
    "footer": (
        "DigiOne – kuntien oppimistiedon selkäranka. Tiedot ovat kunnan hallussa.",
        "DigiOne – kommunernas ryggrad för lärandedata. Uppgifterna ägs av kommunen.",
        "DigiOne – the municipalities' learning-data backbone. The municipality owns the data.",
    ),
    # -- signing in and out
    "login_title": ("Kirjaudu sisään", "Logga in", "Sign in"),
    "login_intro": (
        (
            "Liitä alle kulkuavain, jonka ylläpitäjä on antanut sinulle komennolla "
            "digione token issue."
        ),
        (
            "Klistra in den åtkomsttoken som administratören har gett dig med kommandot "
            "digione token issue."
        ),
        ("Paste the access token your administrator issued to you with digione token issue."),
    ),
    "login_token_label": ("Kulkuavain", "Åtkomsttoken", "Access token"),
    "login_token_hint": (
        (
            "Avain tallennetaan vain tämän selaimen evästeeseen, jota sivun skriptit eivät voi "
            "lukea ja jota ei lähetetä muille sivustoille."
        ),
        (
            "Token sparas endast i en kaka i den här webbläsaren, som sidans skript inte kan läsa "
            "och som inte skickas till andra webbplatser."
        ),
        (
            "The token is kept only in a cookie of this browser that page scripts cannot read and "
            "that is never sent to other sites."
        ),
    ),
    "login_submit": ("Kirjaudu", "Logga in", "Sign in"),
    "login_oidc_note": (
        (
            "Tuotannossa kirjautuminen tapahtuu myöhemmin MPASSid-palvelun tai muun OpenID "
            "Connect -tunnistuksen kautta; tämä lomake on kehitys- ja pilottikäyttöön."
        ),
        (
            "I produktion sker inloggningen senare via MPASSid eller en annan OpenID "
            "Connect-tjänst; det här formuläret är för utveckling och pilotbruk."
        ),
        (
            "In production, sign-in will go through MPASSid or another OpenID Connect provider, "
            "which can be plugged in later; this form is for development and pilots."
        ),
    ),
    "login_invalid": (
        "Kulkuavain ei kelpaa tai se on vanhentunut. Pyydä ylläpitäjältä uusi.",
        "Åtkomsttoken är ogiltig eller har gått ut. Be administratören om en ny.",
        "The access token is not valid or has expired. Ask your administrator for a new one.",
    ),
    "login_expired": (
        "Istuntosi on päättynyt. Kirjaudu uudelleen.",
        "Din session har gått ut. Logga in igen.",
        "Your session has ended. Please sign in again.",
    ),
    "logged_out": ("Olet kirjautunut ulos.", "Du har loggat ut.", "You have signed out."),
    "logout_title": ("Kirjaudu ulos", "Logga ut", "Sign out"),
    "logout_confirm": (
        "Haluatko kirjautua ulos tästä selaimesta?",
        "Vill du logga ut från den här webbläsaren?",
        "Do you want to sign out of this browser?",
    ),
    "no_pages_for_role": (
        (
            "Verkkosivut ovat opettajille, huoltajille ja oppilaille. Muut roolit käyttävät "
            "ohjelmointirajapintaa."
        ),
        (
            "Webbsidorna är för lärare, vårdnadshavare och elever. Andra roller använder "
            "programmeringsgränssnittet."
        ),
        "The web pages are for teachers, guardians and students. Other roles use the API.",
    ),
    # -- errors
    "error_title_401": ("Kirjaudu sisään", "Logga in", "Sign in"),
    "error_title_403": ("Ei käyttöoikeutta", "Ingen behörighet", "Not permitted"),
    "error_text_403": (
        (
            "Sinulla ei ole oikeutta tähän sivuun. Luokan tiedot näkyvät vain luokan opettajille "
            "ja lapsen tiedot vain hänen huoltajilleen."
        ),
        (
            "Du har inte behörighet till den här sidan. En klass uppgifter visas bara för "
            "klassens lärare och ett barns uppgifter bara för barnets vårdnadshavare."
        ),
        (
            "You may not see this page. A class is shown only to its teachers, and a child only "
            "to the child's guardians."
        ),
    ),
    "error_title_404": ("Sivua ei löydy", "Sidan finns inte", "Page not found"),
    "error_text_404": (
        "Tällä osoitteella ei ole sivua.",
        "Det finns ingen sida på den här adressen.",
        "There is no page at this address.",
    ),
    "error_title_csrf": ("Lomake on vanhentunut", "Formuläret har gått ut", "The form has expired"),
    "error_text_csrf": (
        "Lomaketta ei voitu varmentaa. Palaa sivulle, lataa se uudelleen ja yritä uudestaan.",
        "Formuläret kunde inte verifieras. Gå tillbaka, ladda om sidan och försök igen.",
        "The form could not be verified. Go back, reload the page and try again.",
    ),
    "error_title_504": (
        "Tiedot päivittyvät vielä",
        "Uppgifterna uppdateras ännu",
        "The data is still updating",
    ),
    "error_text_504": (
        (
            "Muutoksesi on tallennettu, mutta näkymä ei ole vielä ehtinyt päivittyä. Lataa sivu "
            "hetken kuluttua uudelleen."
        ),
        (
            "Din ändring har sparats, men vyn har inte hunnit uppdateras ännu. Ladda om sidan om "
            "en stund."
        ),
        ("Your change is saved, but the view has not caught up yet. Reload the page in a moment."),
    ),
    "error_title_503": (
        "Tiedot eivät ole vielä saatavilla",
        ("Uppgifterna är inte tillgängliga ännu"),
        "The data is not available yet",
    ),
    "error_text_503": (
        "Näkymää rakennetaan parhaillaan. Yritä hetken kuluttua uudelleen.",
        "Vyn byggs upp just nu. Försök igen om en stund.",
        "The view is being built. Please try again shortly.",
    ),
    "error_title_422": ("Virheellinen pyyntö", "Ogiltig begäran", "Invalid request"),
    "error_title_409": ("Ristiriita", "Konflikt", "Conflict"),
    "error_title_other": ("Jokin meni vikaan", "Något gick fel", "Something went wrong"),
    "reload": ("Lataa sivu uudelleen", "Ladda om sidan", "Reload the page"),
    "to_front_page": ("Etusivulle", "Till startsidan", "To the front page"),
    # -- freshness
    "fresh_now": (
        "Tiedot ovat ajan tasalla – päivitetty juuri nyt.",
        "Uppgifterna är aktuella – uppdaterade just nu.",
        "The data is up to date – updated just now.",
    ),
    "fresh_lag": (
        (
            "{lag} muutosta odottaa vielä käsittelyä: näkymä sisältää tapahtumat kohtaan {position} "
            "asti, uusin on {head}."
        ),
        (
            "{lag} ändringar väntar ännu på behandling: vyn innehåller händelserna fram till "
            "{position}, den senaste är {head}."
        ),
        (
            "{lag} changes are still being processed: the view includes events up to {position}; "
            "the latest is {head}."
        ),
    ),
    "fresh_position": (
        "tapahtumalokin kohta {position}",
        ("position {position} i händelseloggen"),
        "event log position {position}",
    ),
    "fresh_behind": (
        "{lag} muutosta odottaa vielä käsittelyä; tiedot päivittyvät hetken kuluttua.",
        "{lag} ändringar väntar ännu på behandling; uppgifterna uppdateras om en stund.",
        "{lag} changes are still being processed; the data will update in a moment.",
    ),
    "details": ("Lisätiedot", "Detaljer", "Details"),
    # -- people and things whose name is not shown
    "erased_person": (
        "(tiedot poistettu)",
        "(uppgifterna raderade)",
        "(data erased)",
    ),
    "erased_text": (
        "Teksti on poistettu tietosuojasyistä.",
        "Texten har raderats av dataskyddsskäl.",
        "The text has been erased for data protection.",
    ),
    "unnamed_person": ("(nimi ei tiedossa)", "(namnet är okänt)", "(name not known)"),
    "untitled_class": ("(nimetön ryhmä)", "(namnlös grupp)", "(untitled group)"),
    "untitled_work": ("(nimetön työ)", "(namnlös uppgift)", "(untitled work)"),
    "rendered_at": ("Sivu muodostettu {time}.", "Sidan skapades {time}.", "Page built {time}."),
    # -- teacher
    "teacher_classes_title": ("Omat luokat", "Mina klasser", "My classes"),
    "teacher_no_classes": (
        "Et opeta tällä hetkellä yhtään luokkaa.",
        "Du undervisar inte någon klass just nu.",
        "You are not teaching any class at the moment.",
    ),
    "th_class": ("Luokka", "Klass", "Class"),
    "th_class_code": ("Tunnus", "Kod", "Code"),
    "th_subjects": ("Oppiaineet", "Läroämnen", "Subjects"),
    "th_grades": ("Vuosiluokat", "Årskurser", "Grades"),
    "class_overview": ("Luokan yleiskuva", "Klassens översikt", "Class overview"),
    "heatmap_title": ("Tavoitteiden saavuttaminen", "Måluppfyllelse", "Attainment of objectives"),
    "heatmap_caption": (
        "Kunkin oppilaan viimeisin arvio (taso 1–4) tavoitteista, joista luokassa on arvioita.",
        "Varje elevs senaste bedömning (nivå 1–4) i de mål som har bedömts i klassen.",
        "Each student's latest level (1–4) on the objectives assessed in the class.",
    ),
    "heatmap_objectives": (
        "Taulukon tavoitteet",
        "Målen i tabellen",
        "The objectives in the table",
    ),
    "heatmap_scroll": (
        "Tavoitetaulukko, vieritettävä",
        "Måltabell, rullbar",
        "Objectives table, scrollable",
    ),
    "legend": ("Selite", "Förklaring", "Legend"),
    "level": ("taso", "nivå", "level"),
    "level_n": ("taso {level}", "nivå {level}", "level {level}"),
    "not_assessed": ("ei arvioitu", "inte bedömt", "not assessed"),
    "th_student": ("Oppilas", "Elev", "Student"),
    "unassessed_title": (
        "Tavoitteet, joista ketään ei ole vielä arvioitu",
        "Mål som ingen har bedömts i ännu",
        "Objectives nobody has been assessed on yet",
    ),
    "none": ("Ei yhtään.", "Inga.", "None."),
    "line_items_title": (
        "Arvioitavat työt ja luokan tulosjakauma",
        "Bedömda uppgifter och klassens resultatfördelning",
        "Assessed work and the class distribution",
    ),
    "no_line_items": ("Ei arvioitavia töitä.", "Inga bedömda uppgifter.", "No assessed work."),
    "due": ("Määräpäivä", "Sista dag", "Due"),
    "results_count": ("Tuloksia", "Resultat", "Results"),
    "points": ("Pisteet", "Poäng", "Points"),
    "grades": ("Arvosanat", "Vitsord", "Grades"),
    "stat_mean": ("keskiarvo", "medelvärde", "mean"),
    "stat_median": ("mediaani", "median", "median"),
    "stat_spread": ("keskihajonta", "standardavvikelse", "spread"),
    "stat_range": ("vaihteluväli", "variationsbredd", "range"),
    "of_max": ("/ {max}", "/ {max}", "/ {max}"),
    "statuses": ("Tila", "Status", "Status"),
    "missing_title": ("Puuttuvat työt", "Saknade uppgifter", "Missing work"),
    "missing_none": ("Ei puuttuvia töitä.", "Inga saknade uppgifter.", "No missing work."),
    "late_title": ("Myöhässä palautetut työt", "Försenade uppgifter", "Late work"),
    "late_none": ("Ei myöhässä palautettuja töitä.", "Inga försenade uppgifter.", "No late work."),
    "late_mark": ("palautettu myöhässä", "inlämnad för sent", "handed in late"),
    "reason_no result": ("ei tulosta", "inget resultat", "no result"),
    "reason_not submitted": ("ei palautettu", "inte inlämnad", "not submitted"),
    "students_range": (
        "Oppilaat {first}–{last} / {total}",
        "Elever {first}–{last} av {total}",
        "Students {first}–{last} of {total}",
    ),
    "previous_page": ("Edelliset oppilaat", "Föregående elever", "Previous students"),
    "next_page": ("Seuraavat oppilaat", "Följande elever", "Next students"),
    "pages": ("Sivut", "Sidor", "Pages"),
    "term": ("Lukukausi", "Termin", "Term"),
    "term_untitled": ("(nimetön lukukausi)", "(namnlös termin)", "(untitled term)"),
    "all_terms": ("Koko ajalta", "Hela tiden", "All time"),
    "show": ("Näytä", "Visa", "Show"),
    "filters": ("Rajaus", "Avgränsning", "Filter"),
    "back_to_classes": (
        "Takaisin omiin luokkiin",
        "Tillbaka till mina klasser",
        "Back to my classes",
    ),
    "back_to_class": (
        "Takaisin luokkaan {title}",
        "Tillbaka till klassen {title}",
        "Back to class {title}",
    ),
    "student_not_in_class": (
        "Tällä luokalla ei ole tätä oppilasta.",
        "Klassen har ingen sådan elev.",
        "This class has no such student.",
    ),
    "progress_title": ("Edistyminen ajan myötä", "Utveckling över tid", "Progress over time"),
    "chart_levels": ("Tavoitetasot ajan myötä", "Målnivåer över tid", "Levels over time"),
    "chart_levels_desc": (
        "Viivakaavio: kunkin tavoitteen taso (1–4) arviointipäivinä.",
        "Linjediagram: nivån (1–4) för varje mål på bedömningsdagarna.",
        "Line chart: each objective's level (1–4) on the days it was assessed.",
    ),
    "chart_grades": ("Arvosanat ajan myötä", "Vitsord över tid", "Grades over time"),
    "chart_grades_desc": (
        "Viivakaavio: numeeriset arvosanat (4–10) arviointipäivinä.",
        "Linjediagram: numeriska vitsord (4–10) på bedömningsdagarna.",
        "Line chart: numeric grades (4–10) on the days they were given.",
    ),
    "as_table": ("Näytä taulukkona", "Visa som tabell", "Show as a table"),
    "no_trend": ("Ei vielä arvioita.", "Inga bedömningar ännu.", "No assessments yet."),
    "th_date": ("Päivä", "Datum", "Date"),
    "th_objective": ("Tavoite", "Mål", "Objective"),
    "th_level": ("Taso", "Nivå", "Level"),
    "th_grade": ("Arvosana", "Vitsord", "Grade"),
    "th_score": ("Pisteet", "Poäng", "Score"),
    "th_work": ("Työ", "Uppgift", "Work"),
    "th_status": ("Tila", "Status", "Status"),
    "student_results": ("Tulokset", "Resultat", "Results"),
    "student_attainments": ("Tavoitteiden tasot", "Målens nivåer", "Objective levels"),
    "student_missing": ("Puuttuvat työt", "Saknade uppgifter", "Missing work"),
    "no_result": ("ei tulosta", "inget resultat", "no result"),
    # -- guardian
    "on_this_page": ("Tällä sivulla", "På den här sidan", "On this page"),
    "children_title": ("Lapseni", "Mina barn", "My children"),
    "no_children": (
        "Sinulle ei näy yhtään lasta. Jos tämä on virhe, ota yhteyttä lapsen kouluun.",
        "Inga barn visas för dig. Kontakta barnets skola om detta är fel.",
        "No children are shown to you. If this is wrong, contact your child's school.",
    ),
    "classes_and_teachers": ("Luokat ja opettajat", "Klasser och lärare", "Classes and teachers"),
    "no_classes": ("Ei luokkia.", "Inga klasser.", "No classes."),
    "teachers": ("Opettajat", "Lärare", "Teachers"),
    "course": ("Kurssi", "Kurs", "Course"),
    "results_title": (
        "Tulokset ja opettajan palaute",
        "Resultat och lärarens respons",
        "Results and the teacher's feedback",
    ),
    "no_results": ("Ei tuloksia.", "Inga resultat.", "No results."),
    "feedback": ("Opettajan palaute", "Lärarens respons", "Teacher's feedback"),
    "assessed_on": ("Arvioitu {date}", "Bedömt {date}", "Assessed {date}"),
    "assessor": ("Arvioija", "Bedömare", "Assessed by"),
    "related_objectives": ("Tavoitteet", "Mål", "Objectives"),
    "attainments_title": (
        "Miten tavoitteet on saavutettu",
        "Hur målen har uppnåtts",
        "How the objectives are reached",
    ),
    "no_attainments": (
        "Ei arvioita tavoitteista.",
        "Inga bedömningar av mål.",
        "No objective assessments.",
    ),
    "evidence": ("Perustuu töihin", "Baseras på", "Based on"),
    "learner_titles_note": (
        (
            "Tavoitteet on kirjoitettu oppilaan näkökulmasta selkokielellä. Ne ovat DigiOnen "
            "omia tiivistelmiä perusopetuksen opetussuunnitelman perusteiden (2014) "
            "tavoitteista; opettaja näkee virallisen tekstin."
        ),
        (
            "Målen är skrivna ur elevens synvinkel på lätt språk. Formuleringarna och "
            "översättningarna är DigiOnes egna, inte Utbildningsstyrelsens officiella svenska "
            "text i grunderna för läroplanen (2014); läraren ser den officiella texten."
        ),
        (
            "The objectives are written from the learner's point of view in plain language. "
            "The wording and translation are DigiOne's own, not an official translation of "
            "the Finnish National Core Curriculum (2014); the teacher sees the official text."
        ),
    ),
    "official_text_note": (
        "Tavoitteet näytetään opetussuunnitelman perusteiden virallisena tekstinä.",
        (
            "Målen visas i den officiella finska texten ur grunderna för läroplanen; en officiell "
            "svensk text finns inte i systemet."
        ),
        (
            "The objectives are shown in the official Finnish text of the core curriculum; the "
            "English titles are DigiOne's own unofficial paraphrases."
        ),
    ),
    "grade_meaning_letter": ("{grade} ({meaning})", "{grade} ({meaning})", "{grade} ({meaning})"),
    "score_of_max": ("{score} / {max}", "{score} / {max}", "{score} / {max}"),
    "grade_meaning": (
        "{grade} ({meaning}, asteikolla 4–10)",
        "{grade} ({meaning}, på skalan 4–10)",
        "{grade} ({meaning}, on the scale 4–10)",
    ),
    "consents_title": ("Suostumukset", "Samtycken", "Consents"),
    # -- the right of access
    "access_link": (
        "Kaikki tallennetut tiedot ja kenelle niitä on luovutettu",
        "Alla lagrade uppgifter och till vem de har lämnats ut",
        "Everything recorded, and who received it",
    ),
    "access_title": ("Tallennetut tiedot", "Lagrade uppgifter", "Recorded data"),
    "back_to_child": ("Takaisin: {name}", "Tillbaka: {name}", "Back: {name}"),
    "access_intro": (
        (
            "Sinulla on oikeus tietää, mitä tietoja oppilaasta on tallennettu, kuka ne on "
            "kirjannut ja kenelle niitä on luovutettu (EU:n tietosuoja-asetus, 15 artikla)."
        ),
        (
            "Du har rätt att veta vilka uppgifter om eleven som har lagrats, vem som har "
            "registrerat dem och till vem de har lämnats ut (EU:s dataskyddsförordning, artikel 15)."
        ),
        (
            "You have the right to know what is recorded about the pupil, who recorded it and who "
            "received it (EU General Data Protection Regulation, Article 15)."
        ),
    ),
    "access_generated": ("Koottu {time}.", "Sammanställt {time}.", "Compiled {time}."),
    "access_download": (
        "Lataa tiedot (JSON)",
        "Ladda ner uppgifterna (JSON)",
        "Download the data (JSON)",
    ),
    "access_download_hint": (
        (
            "Tiedosto on koneluettava, ja sen voi siirtää toiseen palveluun (20 artikla). "
            "Kenttien nimet on kuvattu DigiOnen ohjeissa."
        ),
        (
            "Filen är maskinläsbar och kan flyttas till en annan tjänst (artikel 20). "
            "Fältens namn beskrivs i DigiOnes anvisningar."
        ),
        (
            "The file is machine-readable and can be moved to another service (Article 20). Its "
            "field names are described in DigiOne's documentation."
        ),
    ),
    "access_recorded": ("Mitä on tallennettu", "Vad som har lagrats", "What is recorded"),
    "access_kind": ("Tieto", "Uppgift", "Record"),
    "access_count": ("Määrä", "Antal", "Number"),
    "access_first": ("Ensimmäinen", "Första", "First"),
    "access_last": ("Viimeisin muutos", "Senaste ändring", "Last change"),
    "access_by": ("Kirjannut", "Registrerat av", "Recorded by"),
    "someone_at_school": (
        "koulun järjestelmä",
        "skolans system",
        "the school's system",
    ),
    "kind_user": ("henkilötiedot", "personuppgifter", "personal details"),
    "kind_demographics": ("taustatiedot", "bakgrundsuppgifter", "background details"),
    "kind_enrollment": ("luokat ja ryhmät", "klasser och grupper", "classes and groups"),
    "kind_result": ("arvioinnit", "bedömningar", "assessments"),
    "kind_attainment": ("tavoitteiden arviot", "bedömningar av mål", "objective levels"),
    "kind_consent": ("suostumukset", "samtycken", "consents"),
    "kind_erasure": ("poistopyynnöt", "begäranden om radering", "erasure requests"),
    "access_disclosures": (
        "Kenelle tietoja on luovutettu",
        "Till vem uppgifterna har lämnats ut",
        "Who received the data",
    ),
    "access_disclosures_intro": (
        "Jokainen luku kirjataan: kuka sai mitäkin tietoja, milloin ja millä perusteella.",
        "Varje läsning registreras: vem som fick vilka uppgifter, när och på vilken grund.",
        "Every read is recorded: who received which data, when and on what basis.",
    ),
    "access_recipient": ("Vastaanottaja", "Mottagare", "Recipient"),
    "access_basis": ("Peruste", "Grund", "Basis"),
    "access_times": ("Kertaa", "Gånger", "Times"),
    "access_no_disclosures": (
        "Tietoja ei ole luovutettu kenellekään.",
        "Uppgifterna har inte lämnats ut till någon.",
        "The data has not been given to anyone.",
    ),
    "cat_all": ("kaikki tiedot", "alla uppgifter", "all data"),
    "basis_statutory task": (
        "koulun lakisääteinen tehtävä",
        "skolans lagstadgade uppgift",
        "the school's statutory task",
    ),
    "basis_right of access (GDPR art. 15)": (
        "oikeus saada pääsy tietoihin (15 art.)",
        "rätt till tillgång (art. 15)",
        "right of access (Art. 15)",
    ),
    "basis_consent": ("suostumus", "samtycke", "consent"),
    "access_erased": ("Poistetut tiedot", "Raderade uppgifter", "Erased data"),
    "access_erased_on": ("Poistettu {date}.", "Raderat {date}.", "Erased {date}."),
    "access_shredded": ("Poistettiin heti", "Raderades genast", "Erased at once"),
    "access_kept": ("Säilytetään: {what}", "Bevaras: {what}", "Kept: {what}"),
    "kept_until": ("{date} asti", "till {date}", "until {date}"),
    "kept_permanently": ("pysyvästi", "permanent", "permanently"),
    "access_nothing_erased": (
        "Tietoja ei ole poistettu.",
        "Inga uppgifter har raderats.",
        "No data has been erased.",
    ),
    "access_retention": (
        "Kuinka kauan tietoja säilytetään",
        "Hur länge uppgifterna bevaras",
        "How long data is kept",
    ),
    "retention_permanent": (
        "päättö- ja erotodistukset",
        "avgångs- och skiljebetyg",
        "final and leaving certificates",
    ),
    "retention_compulsory": ("lukuvuositodistukset", "läsårsbetyg", "year reports"),
    "retention_working": ("muut tiedot", "övriga uppgifter", "other data"),
    "retention_rule_permanent": (
        "Päättö- ja erotodistukset säilytetään pysyvästi (perusopetuslaki 628/1998).",
        "Avgångs- och skiljebetyg bevaras permanent (lagen om grundläggande utbildning 628/1998).",
        "Final and leaving certificates are kept permanently (Basic Education Act 628/1998).",
    ),
    "retention_rule_compulsory": (
        (
            "Lukuvuositodistukset säilytetään oppivelvollisuuden ajan, sen vuoden loppuun, jona "
            "oppilas täyttää 18 (oppivelvollisuuslaki 1214/2020)."
        ),
        (
            "Läsårsbetyg bevaras under läroplikten, till slutet av det år eleven fyller 18 "
            "(läropliktslagen 1214/2020)."
        ),
        (
            "Year reports are kept for the compulsory-schooling period, until the end of the year "
            "the pupil turns 18 (Compulsory Education Act 1214/2020)."
        ),
    ),
    "retention_rule_working": (
        "Muut tiedot, kuten yhteystiedot ja arkinen palaute, poistetaan heti pyynnöstä.",
        "Övriga uppgifter, som kontaktuppgifter och vardaglig respons, raderas genast på begäran.",
        "Other data, such as contact details and everyday feedback, is erased at once on request.",
    ),
    "consents_intro": (
        (
            "Koulu käsittelee oppilaan tietoja lakisääteisten tehtäviensä vuoksi ilman "
            "suostumusta. Suostumuksella päätät, saako jokin muu palvelu, kuten oppimissovellus, "
            "lapsen tietoja. Voit perua suostumuksen milloin tahansa."
        ),
        (
            "Skolan behandlar elevens uppgifter för sina lagstadgade uppgifter utan samtycke. Med "
            "ett samtycke bestämmer du om en annan tjänst, till exempel en lärapp, får barnets "
            "uppgifter. Du kan återkalla samtycket när som helst."
        ),
        (
            "The school processes a pupil's data for its statutory duties without consent. With "
            "a consent you decide whether another service, such as a learning app, receives "
            "your child's data. You can withdraw a consent at any time."
        ),
    ),
    "no_consents": ("Ei suostumuksia.", "Inga samtycken.", "No consents."),
    "th_recipient": ("Palvelu", "Tjänst", "Service"),
    "th_purposes": ("Tarkoitus", "Ändamål", "Purpose"),
    "th_categories": ("Tiedot", "Uppgifter", "Data"),
    "th_granted": ("Annettu", "Givet", "Granted"),
    "th_valid_until": ("Voimassa asti", "Giltigt till", "Valid until"),
    "th_state": ("Tila", "Status", "State"),
    "th_action": ("Toiminto", "Åtgärd", "Action"),
    "until_withdrawn": ("toistaiseksi", "tills vidare", "until withdrawn"),
    "state_granted": ("voimassa", "gäller", "in force"),
    "state_revoked": ("peruttu", "återkallat", "withdrawn"),
    "state_expired": ("päättynyt", "upphört", "expired"),
    "withdraw": ("Peru suostumus", "Återkalla samtycket", "Withdraw consent"),
    "withdraw_for": ("palvelulle {recipient}", "för tjänsten {recipient}", "for {recipient}"),
    "grant_title": ("Anna uusi suostumus", "Ge ett nytt samtycke", "Give a new consent"),
    "recipient_legend": (
        "Palvelu, joka saa tiedot",
        "Tjänst som får uppgifterna",
        "Service that receives the data",
    ),
    "recipient_hint": (
        "Kunta on rekisteröinyt nämä palvelut suostumuksen perusteella. Valitse yksi.",
        "Kommunen har registrerat de här tjänsterna med samtycke som grund. Välj en.",
        "The municipality registered these services on the basis of consent. Choose one.",
    ),
    "service_receives": ("Palvelu saa", "Tjänsten får", "The service receives"),
    "no_services": (
        "Kunta ei ole rekisteröinyt yhtään palvelua, jolle voi antaa suostumuksen.",
        "Kommunen har inte registrerat någon tjänst som man kan ge samtycke till.",
        "The municipality has registered no service that a consent can be given to.",
    ),
    "categories_legend": (
        "Tiedot, jotka palvelu saa",
        "Uppgifter som tjänsten får",
        "Data the service receives",
    ),
    "categories_hint": (
        "Valitse vain tietoja, jotka valitun palvelun kuvauksessa luetellaan.",
        "Välj bara uppgifter som räknas upp i beskrivningen av den valda tjänsten.",
        "Choose only data listed in the description of the chosen service.",
    ),
    "valid_until_legend": ("Voimassa asti", "Giltigt till", "Valid until"),
    "valid_until_hint": (
        "Jätä tyhjäksi, jos suostumus on voimassa, kunnes perut sen.",
        "Lämna tomt om samtycket ska gälla tills du återkallar det.",
        "Leave empty for a consent that lasts until you withdraw it.",
    ),
    "valid_until_label": (
        "Voimassa asti (vapaaehtoinen)",
        "Giltigt till (frivilligt)",
        "Valid until (optional)",
    ),
    "grant_submit": ("Anna suostumus", "Ge samtycke", "Give consent"),
    "notice_granted": (
        "Suostumus on annettu.",
        "Samtycket har getts.",
        "The consent has been given.",
    ),
    "notice_withdrawn": (
        "Suostumus on peruttu.",
        "Samtycket har återkallats.",
        "The consent has been withdrawn.",
    ),
    "form_problem": (
        "Suostumusta ei voitu tallentaa.",
        "Samtycket kunde inte sparas.",
        "The consent could not be saved.",
    ),
    "form_problem_retry": (
        "Tarkista valinnat ja yritä uudelleen.",
        "Kontrollera valen och försök igen.",
        "Check your choices and try again.",
    ),
    "choose_service": (
        "Valitse palvelu, jolle annat suostumuksen.",
        "Välj den tjänst du ger samtycke till.",
        "Choose the service you give the consent to.",
    ),
    "categories_not_received": (
        (
            "Palvelu {service} ei saa kaikkia valitsemiasi tietoja. Valitse vain sen kuvauksessa "
            "luetellut tiedot."
        ),
        (
            "Tjänsten {service} får inte alla uppgifter du valde. Välj bara de uppgifter som "
            "räknas upp i dess beskrivning."
        ),
        (
            "{service} does not receive all the data you chose. Choose only the data listed in "
            "its description."
        ),
    ),
    "date_in_past": (
        "Päivämäärä on jo mennyt. Anna tuleva päivä tai jätä kenttä tyhjäksi.",
        "Datumet har redan varit. Ange ett kommande datum eller lämna fältet tomt.",
        "The date has passed. Give a future date or leave the field empty.",
    ),
    "consent_not_allowed": (
        (
            "Et voi antaa tätä suostumusta. Alle 13-vuotiaan (tai jos syntymäaika ei ole tiedossa) "
            "puolesta suostumuksen antaa huoltaja, 13 vuotta täyttänyt voi antaa sen itse ja "
            "täysi-ikäinen vain itse."
        ),
        (
            "Du kan inte ge det här samtycket. För en elev under 13 (eller vars födelsedatum inte "
            "är känt) ger vårdnadshavaren samtycket, från 13 år kan eleven ge det själv och som "
            "myndig bara själv."
        ),
        (
            "You cannot give this consent. A guardian consents for a pupil under 13 (or whose "
            "birth date is not known); from 13 the pupil can consent themself, and from 18 only "
            "the pupil can."
        ),
    ),
    "purpose_learning-app": (
        "oppimissovelluksen käyttö opetuksessa",
        "användning av en lärapp i undervisningen",
        "using a learning app in teaching",
    ),
    "purpose_progress-feedback": (
        "edistymisestä kertominen kotiin",
        "att berätta för hemmet hur eleven går framåt",
        "telling the family how the pupil progresses",
    ),
    "purpose_research": ("tutkimus", "forskning", "research"),
    "choose_category": (
        "Valitse vähintään yksi tieto.",
        "Välj minst en uppgift.",
        "Choose at least one kind of data.",
    ),
    "invalid_date": (
        "Anna päivämäärä muodossa vvvv-kk-pp.",
        "Ange datum som åååå-mm-dd.",
        "Give the date as yyyy-mm-dd.",
    ),
    "cat_identity": ("henkilöllisyys", "identitet", "identity"),
    "cat_contact": ("yhteystiedot", "kontaktuppgifter", "contact details"),
    "cat_roster": ("luokka- ja ryhmätiedot", "klass- och gruppuppgifter", "classes and groups"),
    "cat_assessment": ("arvioinnit", "bedömningar", "assessments"),
    "cat_attainment": ("tavoitteiden saavuttaminen", "måluppfyllelse", "attainment of objectives"),
    "cat_demographics": ("taustatiedot", "bakgrundsuppgifter", "demographics"),
    "cat_photos": ("valokuvat", "fotografier", "photos"),
    "category_test": ("koe", "prov", "test"),
    "category_project": ("projekti", "projekt", "project"),
    "category_yearReport": ("lukuvuositodistus", "läsårsbetyg", "year report"),
    "category_homework": ("kotitehtävä", "läxa", "homework"),
    "status_fully graded": ("arvioitu", "bedömd", "graded"),
    "status_partially graded": ("osittain arvioitu", "delvis bedömd", "partly graded"),
    "status_submitted": ("palautettu", "inlämnad", "submitted"),
    "status_not submitted": ("ei palautettu", "inte inlämnad", "not submitted"),
    "status_exempt": ("vapautettu", "befriad", "exempt"),
}

_INDEX = {"fi": 0, "sv": 1, "en": 2}
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def level_text(level: int, lang: str) -> str:
    """An attainment level in plain language."""
    if lang == "sv":
        return _LEVEL_TEXTS_SV.get(level, str(level))
    return LEVEL_TEXTS.get(level, {}).get(lang) or str(level)


@dataclass(frozen=True)
class Translator:
    """Texts and formats of one language; templates call it as `t(key, **fields)`."""

    lang: str

    def __call__(self, key: str, **fields: Any) -> str:
        text = _MESSAGES[key][_INDEX[self.lang]]
        return text.format(**fields) if fields else text

    def has(self, key: str) -> bool:
        return key in _MESSAGES

    def maybe(self, prefix: str, value: str | None) -> str:
        """The text of `prefix + value` when there is one, else the value as it is."""
        if value is None:
            return ""
        key = prefix + value
        return self(key) if key in _MESSAGES else value

    def level(self, level: int) -> str:
        return level_text(level, self.lang)

    def title(self, titles: Mapping[str, str | None], fallback: str) -> str:
        """An objective's title in this language; Swedish titles fall back to Finnish."""
        order = {"fi": ("fi", "en"), "sv": ("fi", "en"), "en": ("en", "fi")}[self.lang]
        for lang in order:
            if titles.get(lang):
                return str(titles[lang])
        return fallback

    def learner(
        self, learner: Mapping[str, str | None], titles: Mapping[str, str | None], fallback: str
    ) -> tuple[str, str]:
        """An objective for families, with the language it is in: the learner-facing title
        in this language, else the official title (`title`)."""
        own = learner.get(self.lang)
        if own:
            return own, self.lang
        return self.title(titles, fallback), self.title_lang(titles)

    def title_lang(self, titles: Mapping[str, str | None]) -> str:
        """The language the title shown by `title` is in (for a lang attribute)."""
        order = {"fi": ("fi", "en"), "sv": ("fi", "en"), "en": ("en", "fi")}[self.lang]
        return next((lang for lang in order if titles.get(lang)), self.lang)

    def date(self, value: str | dt.date | None) -> str:
        if value is None:
            return ""
        day = _as_date(value)
        if self.lang == "en":
            return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
        return f"{day.day}.{day.month}.{day.year}"

    def time_text(self, value: str) -> str:
        """`time` of an ISO timestamp."""
        return self.time(datetime.fromisoformat(value))

    def time(self, value: datetime) -> str:
        """A moment as Finnish schools read it: in Finnish time."""
        local = value.astimezone(_finnish_time())
        at = {"fi": "klo", "sv": "kl.", "en": "at"}[self.lang]
        clock = f"{local:%H:%M}" if self.lang == "en" else f"{local:%H.%M}"
        return f"{self.date(local)} {at} {clock}"

    def month(self, value: dt.date) -> str:
        """A month as an axis label: "9/2025", "Sep 2025"."""
        if self.lang == "en":
            return f"{_MONTHS_EN[value.month - 1]} {value.year}"
        return f"{value.month}/{value.year}"

    def number(self, value: float | None, *, decimals: int = 1) -> str:
        if value is None:
            return "–"
        number = float(value)
        text = f"{number:,.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{number:,.0f}"
        if self.lang == "en":
            return text
        # Finnish and Swedish: a decimal comma and a (narrow no-break) space between thousands.
        return text.replace(",", "\u202f").replace(".", ",")


@lru_cache(maxsize=1)
def _finnish_time() -> tzinfo:
    try:
        return ZoneInfo("Europe/Helsinki")
    except ZoneInfoNotFoundError:  # no time-zone database on this machine
        return UTC


def _as_date(value: str | date | datetime) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
