//! The dimensions of the Scan School als PLG and the instrument's items.

use anyhow::{Context as _, ensure};
use plg_proto::v1;

/// The instrument's dimensions: the five elements, then the seven conditions.
pub(crate) const DIMENSIONS: [v1::Dimension; 12] = [
    v1::Dimension::InternalProfessionalisation,
    v1::Dimension::ExternalProfessionalisation,
    v1::Dimension::SharingKnowledge,
    v1::Dimension::DevelopingEducationTogether,
    v1::Dimension::InquiringAttitude,
    v1::Dimension::Support,
    v1::Dimension::ProfessionalRoom,
    v1::Dimension::ExecutiveLeadership,
    v1::Dimension::TeamLeadership,
    v1::Dimension::HrPolicy,
    v1::Dimension::Communication,
    v1::Dimension::CollegialSupport,
];

/// Dutch names, for the texts schools write.
pub(crate) const DIMENSION_NAMES: [&str; 12] = [
    "interne professionaliseringsmogelijkheden",
    "externe professionaliseringsmogelijkheden",
    "het delen van kennis en ervaringen",
    "gezamenlijk onderwijs ontwikkelen",
    "onderzoekende houding",
    "draagvlak",
    "professionele ruimte",
    "leiderschap vanuit de directie",
    "leiderschap vanuit de teamleider",
    "personeelsbeleid",
    "communicatie",
    "collegiale ondersteuning",
];

pub(crate) const ELEMENTS: std::ops::Range<usize> = 0..5;
pub(crate) const DEVELOPING_TOGETHER: usize = 3;
pub(crate) const INQUIRING_ATTITUDE: usize = 4;
pub(crate) const SUPPORT: usize = 5;
pub(crate) const EXECUTIVE_LEADERSHIP: usize = 7;
pub(crate) const TEAM_LEADERSHIP: usize = 8;
pub(crate) const HR_POLICY: usize = 9;
/// The conditions that drive the elements.
pub(crate) const KEY_CONDITIONS: [usize; 3] = [SUPPORT, EXECUTIVE_LEADERSHIP, HR_POLICY];

fn dimension_index(dimension: v1::Dimension) -> Option<usize> {
    DIMENSIONS.iter().position(|known| *known == dimension)
}

/// An instrument item: its code and the index of its dimension in [`DIMENSIONS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) code: String,
    pub(crate) dimension: usize,
}

pub(crate) fn instrument_items(items: &[v1::InstrumentItem]) -> anyhow::Result<Vec<Item>> {
    let items = items
        .iter()
        .map(|item| {
            let dimension = v1::Dimension::try_from(item.dimension)
                .ok()
                .and_then(dimension_index)
                .with_context(|| format!("item {} has an unknown dimension", item.code))?;
            Ok(Item {
                code: item.code.clone(),
                dimension,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (index, dimension) in DIMENSIONS.iter().enumerate() {
        ensure!(
            items.iter().any(|item| item.dimension == index),
            "the instrument has no item for {dimension:?}"
        );
    }
    Ok(items)
}
