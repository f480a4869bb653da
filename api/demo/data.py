"""What the demo is drawn from: its municipality, schools, names, comments and year of tests."""

from __future__ import annotations

from dataclasses import dataclass

from domain.commands import Actor

__all__ = [
    "ACTIVE",
    "BOY_MIDDLE_NAMES",
    "BOY_NAMES",
    "COMMENTS",
    "CONSENT_RECIPIENT",
    "CONSENT_SERVICES",
    "DEMO_ADMIN",
    "DEMO_TENANT",
    "DEMO_TENANT_NAME",
    "DISTRICT",
    "DISTRICT_NAME",
    "FAMILY_NAMES",
    "GIRL_MIDDLE_NAMES",
    "GIRL_NAMES",
    "MEN_NAMES",
    "PROJECT_COMMENTS",
    "SCHOOLS",
    "TOPICS",
    "WOMEN_NAMES",
    "YEAR_GOALS",
    "YEAR_OPENINGS",
    "YEAR_STRENGTHS",
    "DemoSchool",
    "DemoService",
    "ItemPlan",
    "line_items_of",
]

DEMO_TENANT = "demo"
DEMO_TENANT_NAME = "Demo municipality"
DEMO_ADMIN = Actor(DEMO_TENANT, "admin", "demo-admin")
#: The district org is the marker of a seeded tenant: it is the first record written.
DISTRICT = "demo-district"
DISTRICT_NAME = "Kuusilahden kaupunki, kasvatus ja koulutus"
#: A learning app the families of a few pupils have allowed to receive their data.
CONSENT_RECIPIENT = "matikka-app"


@dataclass(frozen=True)
class DemoService:
    """A (fictional) service the demo municipality registered on the families' consent."""

    name: str
    title: str
    scopes: tuple[str, ...]
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    #: What it does, in Finnish, Swedish and English.
    descriptions: dict[str, str]


#: The services a family can consent to on the guardian's page.
CONSENT_SERVICES = (
    DemoService(
        name=CONSENT_RECIPIENT,
        title="Matikka-appi",
        scopes=("roster-core.readonly", "gradebook.readonly"),
        categories=("identity",),
        purposes=("learning-app",),
        descriptions={
            "fi": "Harjoitussovellus, joka valitsee tehtävät oppilaan koetulosten mukaan.",
            "sv": "En övningsapp som väljer uppgifter utifrån elevens provresultat.",
            "en": "A practice app that picks exercises to match the pupil's test results.",
        },
    ),
    DemoService(
        name="lukuvalmennus",
        title="Lukuvalmennus",
        scopes=("roster-core.readonly",),
        categories=("identity",),
        purposes=("learning-app", "progress-feedback"),
        descriptions={
            "fi": "Lukemisen harjoitteluun tarkoitettu palvelu, joka kertoo edistymisestä kotiin.",
            "sv": "En tjänst för att öva läsning, som berättar för hemmet hur det går.",
            "en": "A reading-practice service that tells the family how the pupil progresses.",
        },
    ),
)

#: The status of every record the demo writes.
ACTIVE = "active"


@dataclass(frozen=True)
class DemoSchool:
    """A school of the demo municipality and the classes it has."""

    sourced_id: str
    name: str
    #: Short form used in class and line-item sourcedIds ("aur" → "cls-aur-4a").
    short: str
    #: School number (oppilaitosnumero); fictional, in a range no real school uses.
    identifier: str
    email_domain: str
    class_codes: tuple[str, ...]


SCHOOLS = (
    DemoSchool(
        sourced_id="sch-aurinkokumpu",
        name="Aurinkokummun koulu",
        short="aur",
        identifier="99901",
        email_domain="aurinkokumpu.kuusilahti.example",
        class_codes=("3A", "3B", "4A", "5A", "5B", "6A"),
    ),
    DemoSchool(
        sourced_id="sch-kuusikko",
        name="Kuusikon koulu",
        short="kuu",
        identifier="99902",
        email_domain="kuusikko.kuusilahti.example",
        class_codes=("3A", "4A", "4B", "5A", "6A", "6B"),
    ),
)


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Common Finnish names; every person in the demo is a random, fictional combination.
GIRL_NAMES = _names(
    """
    Aino Aada Eevi Emma Helmi Sofia Olivia Lilja Ella Isla Venla Enni Pihla Linnea Elli Hilla
    Kerttu Iida Siiri Alisa Aurora Vilma Minea Nelli Emilia Ilona Lumi Saimi Martta Stella
    Oona Elsa Veera Anni Sara Milla Viivi Inka
    """
)
BOY_NAMES = _names(
    """
    Eino Väinö Leo Oliver Elias Onni Eeli Noel Leevi Vilho Toivo Niilo Eetu Veeti Aatu Otto
    Lenni Emil Hugo Oiva Joel Aleksi Luka Viljami Akseli Rasmus Valtteri Eemil Peetu Sisu
    Mikael Juho Arttu Kasper Eljas Topias Iivari Nooa
    """
)
GIRL_MIDDLE_NAMES = _names(
    """
    Maria Sofia Johanna Helena Kaarina Elina Aurora Emilia Inkeri Matilda Linnea Annikki
    Orvokki Kristiina
    """
)
BOY_MIDDLE_NAMES = _names(
    """
    Juhani Johannes Mikael Olavi Kalevi Ilmari Antero Henrik Tapani Aleksanteri Matias
    Kristian Oskari Valtteri
    """
)
WOMEN_NAMES = _names(
    """
    Anna Laura Maria Johanna Hanna Sanna Katja Heidi Elina Minna Jenni Riikka Satu Tiina Paula
    Maiju Emmi Niina Henna Anu Kaisa Suvi Outi Marjo Salla Reetta Noora Jaana Piia Essi
    """
)
MEN_NAMES = _names(
    """
    Mikko Jussi Antti Juha Timo Janne Sami Ville Tuomas Matti Jukka Markus Petri Teemu Lauri
    Joonas Olli Harri Tommi Pekka Ari Kimmo Marko Heikki Jari Aki Tero Juho Jani Risto
    """
)
FAMILY_NAMES = _names(
    """
    Virtanen Korhonen Mäkinen Nieminen Mäkelä Hämäläinen Laine Heikkinen Koskinen Järvinen
    Lehtonen Lehtinen Saarinen Salminen Heinonen Niemi Heikkilä Kinnunen Salonen Turunen Salo
    Laitinen Tuominen Rantanen Karjalainen Jokinen Mattila Savolainen Lahtinen Ahonen Hiltunen
    Kettunen Leinonen Miettinen Hirvonen Pesonen Kallio Toivonen Räsänen Aaltonen Manninen
    Peltonen Koivisto Honkanen Oksanen Anttila Väisänen Rautio Suominen Lampinen Kivelä
    Huttunen Seppälä Vainio Rissanen Kokkonen Halonen Partanen Pitkänen Nurmi Ojala Hakala
    Mustonen Jääskeläinen Parviainen Koponen Vartiainen Lindholm Backman Sundström
    """
)

# Verbal assessments (sanallinen arvio) by how well the work went: 1 weak … 4 excellent.
COMMENTS = {
    4: (
        "Osaat asiat erinomaisesti ja perustelet ratkaisusi selkeästi. Upeaa työtä!",
        "Ratkaiset myös haastavia tehtäviä sinnikkäästi. Jatka samaan malliin!",
        "Työskentelet itsenäisesti ja tarkasti, ja autat mielelläsi myös muita.",
        "Hallitset aiheen varmasti. Kokeile seuraavaksi vaikeampia lisätehtäviä.",
    ),
    3: (
        "Hyvää työtä! Kirjoita ratkaisun välivaiheet näkyviin, niin vältät huolimattomuusvirheet.",
        "Työskentelet tunneilla aktiivisesti. Sanallisissa tehtävissä voit vielä kehittyä.",
        "Olet edistynyt mukavasti. Tarkista vastauksesi järkevyys arvioimalla ensin.",
        "Osaat aiheen hyvin. Harjoittele vielä päässälaskuja, niin laskeminen sujuu nopeammin.",
    ),
    2: (
        "Osaat perusasiat. Kertaa vielä laskutoimitusten järjestystä ja välivaiheita.",
        "Olet yrittänyt sinnikkäästi. Kysy rohkeasti apua, kun jokin on epäselvää.",
        "Välineiden käyttö auttaa sinua hahmottamaan tehtäviä, jatketaan niiden kanssa.",
    ),
    1: (
        "Tarvitset vielä harjoitusta aiheessa. Tehdään yhdessä tukisuunnitelma kevääksi.",
        "Keskity tunneilla tehtävien tekemiseen, niin osaamisesi vahvistuu.",
        "Kertaa kertotauluja kotona säännöllisesti; pienikin päivittäinen harjoitus auttaa.",
    ),
}
PROJECT_COMMENTS = (
    "Projektityö oli huolellisesti tehty ja esitit tulokset selkeästi.",
    "Teit ryhmässä hyvää yhteistyötä ja kannoit vastuuta omasta osuudestasi.",
    "Työsi oli luova ja omaperäinen. Viimeistele vielä esityksen selitykset.",
    "Projekti jäi osin kesken; sovitaan yhdessä, miten saat sen valmiiksi.",
)
# Year-report verbal assessments (grade 3 has no numeric grade in this municipality).
YEAR_OPENINGS = {
    4: "Olet edistynyt matematiikassa erinomaisesti tänä lukuvuonna.",
    3: "Olet edistynyt matematiikassa hyvin tänä lukuvuonna.",
    2: "Olet edistynyt matematiikassa tasaisesti tänä lukuvuonna.",
    1: "Matematiikan opiskelu on ollut sinulle tänä vuonna haastavaa, mutta olet yrittänyt.",
}
YEAR_STRENGTHS = (
    "Kertotaulut sujuvat sinulta hyvin.",
    "Hahmotat lukualueen 0–1000 ja kymmenjärjestelmän.",
    "Tunnistat tasokuviot ja osaat kuvailla niiden ominaisuuksia.",
    "Osaat mitata ja valita sopivan mittayksikön.",
    "Osaat esittää ratkaisusi piirtäen ja kirjoittaen.",
)
YEAR_GOALS = (
    "Ensi vuonna tavoitteena on vahvistaa sanallisten tehtävien ratkaisemista.",
    "Harjoittele kesällä vielä kertotauluja, niin syksy alkaa hyvin.",
    "Jatka huolellista työskentelyä myös neljännellä luokalla.",
    "Tavoitteena on laskea sujuvammin myös päässä.",
)

# Each year's topic of numbers, calculation, geometry and fractions by grade (POPS 2014).
TOPICS = {
    3: ("Luvut 0–1000", "Kertotaulut", "Tasokuviot", "Murtoluvun käsite"),
    4: ("Luvut 0–10 000", "Jakolasku", "Kulmat ja monikulmiot", "Murtoluvut"),
    5: ("Desimaaliluvut", "Kerto- ja jakolasku", "Kappaleet ja tilavuus", "Murtolukulaskut"),
    6: ("Negatiiviset luvut", "Prosentit", "Piiri ja pinta-ala", "Murto- ja desimaaliluvut"),
}


def _objectives(*numbers: int) -> list[str]:
    return [f"MA.3-6.T{n}" for n in numbers]


@dataclass(frozen=True)
class ItemPlan:
    """One line item of the year; offsets are days from the start of its term."""

    category: str
    title: str
    objectives: list[str]
    spring: bool
    assign_offset: int
    due_offset: int
    points: int | None = None


def line_items_of(grade: int) -> list[ItemPlan]:
    """The line items of a year of mathematics in `grade`, in the order of the year."""
    numbers, calculation, geometry, fractions = TOPICS[grade]
    autumn, spring = False, True
    return [
        ItemPlan("test", f"Koe: {numbers}", _objectives(8, 9), autumn, 21, 38, 30),
        ItemPlan("project", "Mittausprojekti: koulun piha", _objectives(12, 4), autumn, 45, 66),
        ItemPlan("test", f"Koe: {calculation}", _objectives(10, 6), autumn, 80, 94, 30),
        ItemPlan("test", f"Koe: {geometry}", _objectives(11, 7), autumn, 103, 113, 24),
        ItemPlan("project", "Tilastoprojekti: luokan kysely", _objectives(13, 4), spring, 21, 42),
        ItemPlan("test", f"Koe: {fractions}", _objectives(9, 10, 5), spring, 56, 70, 30),
        ItemPlan("project", "Ohjelmointi: oma peli", _objectives(14, 5), spring, 84, 105),
        # The year report is dated from the end of the year (see GradebookPlanner); it
        # covers every objective that affects the grade (T1 is self-assessment only).
        ItemPlan(
            "yearReport",
            "Lukuvuositodistus: matematiikka",
            _objectives(*range(2, 14)),
            spring,
            0,
            0,
        ),
    ]
