//! The schools and the study's scan waves.

use chrono::NaiveDate;
use plg_proto::v1;

pub(crate) struct SchoolSpec {
    pub(crate) name: &'static str,
    pub(crate) country: v1::Country,
    pub(crate) sector: v1::Sector,
    pub(crate) board: &'static str,
}

const fn nl(name: &'static str, sector: v1::Sector, board: &'static str) -> SchoolSpec {
    SchoolSpec {
        name,
        country: v1::Country::Nl,
        sector,
        board,
    }
}

const fn be(name: &'static str, sector: v1::Sector, board: &'static str) -> SchoolSpec {
    SchoolSpec {
        name,
        country: v1::Country::Be,
        sector,
        board,
    }
}

const SECONDARY: v1::Sector = v1::Sector::Secondary;
const PRIMARY: v1::Sector = v1::Sector::Primary;

/// The schools, interleaved so that a smaller demo still has both countries.
pub(crate) const SCHOOLS: [SchoolSpec; 15] = [
    nl(
        "Rijnlands Lyceum Oost",
        SECONDARY,
        "Stichting Onderwijsgroep Rijn en Gouwe",
    ),
    be(
        "Sint-Jozefscollege Denderland",
        SECONDARY,
        "Scholengemeenschap Sint-Jozef Denderland",
    ),
    nl(
        "Christelijk College De Populier",
        SECONDARY,
        "Stichting Christelijk VO Utrecht-Oost",
    ),
    nl(
        "Scholengemeenschap Het Baken",
        SECONDARY,
        "Stichting VO Flevoland",
    ),
    be(
        "Koninklijk Atheneum Berchem-Zuid",
        SECONDARY,
        "Scholengroep Antwerpen-Zuid",
    ),
    nl(
        "Montessori College Zuidas",
        SECONDARY,
        "Stichting Openbaar VO Amsterdam-Zuid",
    ),
    nl(
        "Da Vinci Scholengemeenschap Waalkade",
        SECONDARY,
        "Stichting Onderwijsgroep Rijn en Gouwe",
    ),
    be(
        "Sint-Ursula-Instituut Wilrijk",
        SECONDARY,
        "Scholengemeenschap Sint-Ursula Antwerpen",
    ),
    nl(
        "Vakcollege De Werf",
        SECONDARY,
        "Stichting Christelijk VO Utrecht-Oost",
    ),
    nl(
        "Basisschool De Regenboog",
        PRIMARY,
        "Stichting Primair Onderwijs De Linge",
    ),
    be(
        "Technisch Instituut Sint-Lodewijk",
        SECONDARY,
        "Scholengemeenschap Sint-Jozef Denderland",
    ),
    nl("Lorentz Lyceum Noord", SECONDARY, "Stichting VO Flevoland"),
    nl(
        "Openbare Scholengemeenschap De Eem",
        SECONDARY,
        "Stichting Openbaar VO Amsterdam-Zuid",
    ),
    be(
        "Gemeentelijke Basisschool De Wegwijzer",
        PRIMARY,
        "Stedelijk Onderwijs Gent-Noord",
    ),
    nl(
        "Stedelijk Gymnasium Oosterhout",
        SECONDARY,
        "Stichting VO Flevoland",
    ),
];

#[derive(Debug, Clone, Copy)]
pub(crate) struct WaveSpec {
    pub(crate) label: &'static str,
    pub(crate) opens: NaiveDate,
    pub(crate) closes: NaiveDate,
}

pub(crate) fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a valid calendar date")
}

pub(crate) fn waves() -> [WaveSpec; 3] {
    [
        WaveSpec {
            label: "T1",
            opens: date(2015, 2, 1),
            closes: date(2015, 4, 30),
        },
        WaveSpec {
            label: "T2",
            opens: date(2016, 2, 1),
            closes: date(2016, 4, 30),
        },
        WaveSpec {
            label: "T3",
            opens: date(2017, 2, 1),
            closes: date(2017, 4, 30),
        },
    ]
}
