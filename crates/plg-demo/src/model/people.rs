//! People: the names of schools' staff and the external process coaches.

use plg_proto::v1;
use rand::{rngs::StdRng, seq::IndexedRandom as _};

const FIRST_NAMES_NL: [&str; 24] = [
    "Anna", "Bram", "Daan", "Eva", "Fleur", "Hanneke", "Jeroen", "Joost", "Karin", "Lotte",
    "Marieke", "Mark", "Niels", "Petra", "Ruben", "Sanne", "Sophie", "Thijs", "Wouter", "Yvonne",
    "Esther", "Gerrit", "Ilse", "Maarten",
];
const SURNAMES_NL: [&str; 20] = [
    "de Vries",
    "Jansen",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Hendriks",
    "van Dijk",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Kok",
    "van Leeuwen",
];
const FIRST_NAMES_BE: [&str; 20] = [
    "Els", "Griet", "Koen", "Lieve", "Pieter", "Sien", "Tom", "Wim", "An", "Jan", "Hilde", "Bart",
    "Annelies", "Stijn", "Nele", "Joris", "Kristof", "Veerle", "Dirk", "Leen",
];
const SURNAMES_BE: [&str; 16] = [
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Vermeulen",
    "Van Damme",
    "De Clercq",
    "Hermans",
    "Verstraete",
    "Lambrechts",
];

/// External process coaches: researchers and pedagogical advisers.
pub(crate) const COACHES: [(&str, &str); 5] = [
    ("dr. Marieke van den Heuvel", "m.vandenheuvel@example.org"),
    ("Jeroen Schouten", "j.schouten@example.org"),
    ("dr. Katrien Schelkens", "k.schelkens@example.org"),
    ("Hans Oudeman", "h.oudeman@example.org"),
    ("Ilse Verbruggen", "i.verbruggen@example.org"),
];

/// A name as people are called in `country`.
pub(crate) fn person_name(rng: &mut StdRng, country: v1::Country) -> String {
    let (first, last): (&[&str], &[&str]) = match country {
        v1::Country::Be => (&FIRST_NAMES_BE, &SURNAMES_BE),
        _ => (&FIRST_NAMES_NL, &SURNAMES_NL),
    };
    let first = first.choose(rng).copied().unwrap_or("Sam");
    let last = last.choose(rng).copied().unwrap_or("Jansen");
    format!("{first} {last}")
}
