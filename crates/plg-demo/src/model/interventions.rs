//! Interventions: their categories, the combinations schools run in their shares, and what
//! they target.

use plg_proto::v1;
use rand::{rngs::StdRng, seq::SliceRandom as _};

use super::instrument::{
    DEVELOPING_TOGETHER, EXECUTIVE_LEADERSHIP, HR_POLICY, INQUIRING_ATTITUDE, SUPPORT,
    TEAM_LEADERSHIP,
};

// Intervention categories.
pub(crate) const STRUCTURE: v1::InterventionCategory =
    v1::InterventionCategory::OrganisationalStructure;
pub(crate) const PROFESSIONALISATION: v1::InterventionCategory =
    v1::InterventionCategory::Professionalisation;
pub(crate) const VISION: v1::InterventionCategory = v1::InterventionCategory::VisionDevelopment;
pub(crate) const WORKING_TOGETHER: v1::InterventionCategory =
    v1::InterventionCategory::WorkingAndLearningTogether;
pub(crate) const COMMUNICATION: v1::InterventionCategory = v1::InterventionCategory::Communication;
pub(crate) const LEADERSHIP: v1::InterventionCategory =
    v1::InterventionCategory::LeadershipDevelopment;

/// A combination of categories, its share among the interventions of its kind, and possible
/// titles.
pub(crate) struct Combination {
    pub(crate) categories: &'static [v1::InterventionCategory],
    pub(crate) share: f64,
    pub(crate) titles: &'static [&'static str],
}

const PW_TITLES: &[&str] = &[
    "Lesson study in de sectie wiskunde",
    "Collegiale lesbezoeken met nabespreking",
    "Leerteams formatief evalueren",
    "Intervisie volgens de OASE-methode",
    "Datateams rond doorstroom",
];
const P_TITLES: &[&str] = &[
    "Studiedag differentiëren",
    "Scholing activerende didactiek",
    "Training feedback geven",
    "Masteropleidingen voor docenten",
];
const SPW_TITLES: &[&str] = &[
    "Vrijgeroosterde teamuren voor leerteams",
    "Leerteams per jaarlaag met vaste overlegtijd",
    "Secties heringericht tot ontwikkelteams",
];

/// Interventions that include working and learning together.
pub(crate) const TOGETHER_COMBINATIONS: [Combination; 4] = [
    Combination {
        categories: &[PROFESSIONALISATION, WORKING_TOGETHER],
        share: 0.6,
        titles: PW_TITLES,
    },
    Combination {
        categories: &[STRUCTURE, PROFESSIONALISATION, WORKING_TOGETHER],
        share: 0.25,
        titles: SPW_TITLES,
    },
    Combination {
        categories: &[VISION, WORKING_TOGETHER],
        share: 0.1,
        titles: &["Visietraject 'samen leren' met het hele team"],
    },
    Combination {
        categories: &[WORKING_TOGETHER],
        share: 0.05,
        titles: &["Gezamenlijk lesontwerp in vakgroepen"],
    },
];

/// Interventions without working and learning together.
pub(crate) const OTHER_COMBINATIONS: [Combination; 7] = [
    Combination {
        categories: &[PROFESSIONALISATION],
        share: 0.5,
        titles: P_TITLES,
    },
    Combination {
        categories: &[LEADERSHIP],
        share: 0.1,
        titles: &["Coachend leiderschap voor de schoolleiding"],
    },
    Combination {
        categories: &[LEADERSHIP, PROFESSIONALISATION],
        share: 0.1,
        titles: &["Leiderschapstraject voor teamleiders"],
    },
    Combination {
        categories: &[COMMUNICATION],
        share: 0.1,
        titles: &["Kennisbank en nieuwsbrief met goede praktijken"],
    },
    Combination {
        categories: &[VISION],
        share: 0.1,
        titles: &["Visiedagen over het onderwijsconcept"],
    },
    Combination {
        categories: &[STRUCTURE, PROFESSIONALISATION],
        share: 0.05,
        titles: &["Professionaliseringsbudget per sectie"],
    },
    Combination {
        categories: &[VISION, COMMUNICATION],
        share: 0.05,
        titles: &["Gesprekscyclus over de schoolvisie"],
    },
];

/// `slots` combinations in the tables' shares (largest remainders for the rest), shuffled.
pub(crate) fn deal(
    rng: &mut StdRng,
    table: &'static [Combination],
    slots: usize,
) -> Vec<&'static Combination> {
    let exact: Vec<f64> = table.iter().map(|c| c.share * slots as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut by_remainder: Vec<usize> = (0..table.len()).collect();
    by_remainder.sort_by(|a, b| {
        let remainder = |i: usize| exact[i] - exact[i].floor();
        remainder(*b).total_cmp(&remainder(*a)).then(a.cmp(b))
    });
    let missing = slots - counts.iter().sum::<usize>();
    for index in by_remainder.into_iter().take(missing) {
        counts[index] += 1;
    }
    let mut dealt: Vec<&'static Combination> = table
        .iter()
        .zip(counts)
        .flat_map(|(combination, count)| std::iter::repeat_n(combination, count))
        .collect();
    dealt.shuffle(rng);
    dealt
}

/// The dimensions an intervention of a category typically targets (indices into DIMENSIONS).
pub(crate) fn category_targets(category: v1::InterventionCategory) -> &'static [usize] {
    match category {
        v1::InterventionCategory::OrganisationalStructure => &[6, TEAM_LEADERSHIP],
        v1::InterventionCategory::Professionalisation => &[0, 1, INQUIRING_ATTITUDE],
        v1::InterventionCategory::VisionDevelopment => &[SUPPORT, 10],
        v1::InterventionCategory::WorkingAndLearningTogether => &[2, DEVELOPING_TOGETHER, 11],
        v1::InterventionCategory::Communication => &[10],
        v1::InterventionCategory::LeadershipDevelopment => {
            &[EXECUTIVE_LEADERSHIP, TEAM_LEADERSHIP, HR_POLICY]
        }
        v1::InterventionCategory::Unspecified => &[],
    }
}

/// The degrees of a contribution, from none to large.
pub(crate) const DEGREES: [v1::ContributionDegree; 4] = [
    v1::ContributionDegree::None,
    v1::ContributionDegree::Small,
    v1::ContributionDegree::Moderate,
    v1::ContributionDegree::Large,
];
