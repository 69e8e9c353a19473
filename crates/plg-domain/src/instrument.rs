use serde::{Deserialize, Serialize};

use crate::{
    DomainError,
    dimension::Dimension,
    values::{InstrumentVersion, ItemCode, Text},
};

/// A scan instrument: items, each scoring one dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    pub version: InstrumentVersion,
    pub items: Vec<InstrumentItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentItem {
    pub code: ItemCode,
    pub dimension: Dimension,
    pub text: Text,
}

pub const BUILT_IN_VERSION: &str = "scan-school-als-plg/1";

/// Three statements per dimension, in the spirit of the Scan School als PLG (Kohnstamm
/// Instituut & Universiteit Leiden). The wording is this project's own paraphrase; studies
/// that use the original items register them as their own instrument version.
const BUILT_IN_ITEMS: [(Dimension, [&str; 3]); 12] = [
    (
        Dimension::InternalProfessionalisation,
        [
            "Our school offers teachers opportunities to learn from each other, such as lesson visits and intervision.",
            "Time for professional development within the school is planned and protected.",
            "Teachers can take part in learning communities inside the school.",
        ],
    ),
    (
        Dimension::ExternalProfessionalisation,
        [
            "Teachers are encouraged to follow courses and training outside the school.",
            "What teachers learn outside the school is brought back into the school.",
            "The school takes part in networks with other schools or institutes.",
        ],
    ),
    (
        Dimension::SharingKnowledge,
        [
            "Colleagues share teaching materials and experiences with each other.",
            "In meetings we discuss what works in our lessons and why.",
            "I know where to find the expertise of colleagues.",
        ],
    ),
    (
        Dimension::DevelopingEducationTogether,
        [
            "Teachers design lessons and curricula together.",
            "We evaluate together whether our education reaches its goals.",
            "Improvements in education are developed by teams, not by individuals alone.",
        ],
    ),
    (
        Dimension::InquiringAttitude,
        [
            "Teachers ask themselves why they do things the way they do.",
            "We use data and research to improve our education.",
            "Teachers try out new approaches and examine their effect on students.",
        ],
    ),
    (
        Dimension::Support,
        [
            "Most colleagues support developing our school as a learning community.",
            "Teachers feel ownership of the school's development.",
            "There is enthusiasm among colleagues to learn together.",
        ],
    ),
    (
        Dimension::ProfessionalRoom,
        [
            "Teachers have room to make their own choices about their teaching.",
            "Teachers are involved in decisions about education in the school.",
            "Teachers have time within their task to work on improving education.",
        ],
    ),
    (
        Dimension::ExecutiveLeadership,
        [
            "The school's executive has a clear vision on professional learning.",
            "The executive stimulates teachers to learn with and from each other.",
            "The executive facilitates collaboration between teachers.",
        ],
    ),
    (
        Dimension::TeamLeadership,
        [
            "My team leader stimulates collaboration within the team.",
            "My team leader is interested in what teachers learn.",
            "My team leader helps translate the school's vision into the team's practice.",
        ],
    ),
    (
        Dimension::HrPolicy,
        [
            "Professional development is part of performance and appraisal conversations.",
            "HR policy rewards teachers who contribute to the development of colleagues.",
            "New teachers are supported in their professional development.",
        ],
    ),
    (
        Dimension::Communication,
        [
            "Information about the school's development reaches all staff.",
            "Communication between management and teachers is open.",
            "Results of learning communities are shared across the school.",
        ],
    ),
    (
        Dimension::CollegialSupport,
        [
            "Colleagues help each other when problems arise in teaching.",
            "I can ask colleagues for feedback on my lessons.",
            "Colleagues trust each other.",
        ],
    ),
];

impl Instrument {
    /// The built-in Scan School als PLG instrument: items `E1.1`..`E5.3` and `C1.1`..`C7.3`.
    pub fn built_in() -> Self {
        let items = BUILT_IN_ITEMS
            .iter()
            .flat_map(|(dimension, texts)| {
                texts
                    .iter()
                    .enumerate()
                    .map(move |(index, text)| InstrumentItem {
                        code: ItemCode::parse(&format!("{}.{}", dimension.code(), index + 1))
                            .expect("built-in item codes are valid"),
                        dimension: *dimension,
                        text: Text::parse(text).expect("built-in item texts are valid"),
                    })
            })
            .collect();
        Self {
            version: InstrumentVersion::parse(BUILT_IN_VERSION)
                .expect("the built-in version is valid"),
            items,
        }
    }

    /// An instrument from parsed items: at least one, codes unique.
    pub fn new(
        version: InstrumentVersion,
        items: Vec<InstrumentItem>,
    ) -> Result<Self, DomainError> {
        if items.is_empty() {
            return Err(DomainError::invalid(
                "items",
                "an instrument needs at least one item",
            ));
        }
        let mut codes = std::collections::BTreeSet::new();
        if let Some(duplicate) = items.iter().find(|item| !codes.insert(&item.code)) {
            return Err(DomainError::invalid(
                "items",
                format!("item code {} appears more than once", duplicate.code),
            ));
        }
        Ok(Self { version, items })
    }

    pub fn item(&self, code: &ItemCode) -> Option<&InstrumentItem> {
        self.items.iter().find(|item| &item.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_instrument_scores_every_dimension_three_times() {
        let instrument = Instrument::built_in();
        assert_eq!(instrument.items.len(), 36);
        for dimension in Dimension::ALL {
            let count = instrument
                .items
                .iter()
                .filter(|item| item.dimension == dimension)
                .count();
            assert_eq!(count, 3, "{dimension:?}");
        }
        let code = ItemCode::parse("C5.2").expect("valid code");
        assert_eq!(
            instrument.item(&code).map(|item| item.dimension),
            Some(Dimension::HrPolicy)
        );
    }

    #[test]
    fn duplicate_item_codes_are_refused() {
        let built_in = Instrument::built_in();
        let items = vec![built_in.items[0].clone(), built_in.items[0].clone()];
        let version = InstrumentVersion::parse("own/1").expect("valid version");
        assert!(matches!(
            Instrument::new(version, items),
            Err(DomainError::InvalidField { field: "items", .. })
        ));
    }
}
