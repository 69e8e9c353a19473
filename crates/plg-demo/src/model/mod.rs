//! What the data looks like: the parameters of the data-generating model (the crate
//! documentation describes it), the schools, people, texts and intervention types it draws
//! from, and the schools' latent levels and their staff's answers it generates.

pub(crate) mod instrument;
pub(crate) mod interventions;
pub(crate) mod levels;
pub(crate) mod people;
pub(crate) mod random;
pub(crate) mod respondents;
pub(crate) mod schools;
pub(crate) mod texts;

/// Mean of the conditions at T1.
pub const CONDITION_MEAN: f64 = 3.2;
/// Loading of the conditions on the school factor `g`.
pub const CONDITION_SCHOOL_FACTOR: f64 = 0.2;
/// Loading of each of the other conditions on its own factor `u_k`.
pub const CONDITION_OWN_FACTOR: f64 = 0.45;
/// Loading of support, HR policy and executive leadership on a shared school-policy
/// factor `f`.
pub const KEY_CONDITION_FACTOR: f64 = 0.3;
/// Loading of support, HR policy and executive leadership on their own factors `u_k`.
pub const KEY_CONDITION_OWN_FACTOR: f64 = 0.35;
/// Range the conditions are clamped to at T1.
pub const CONDITION_RANGE: (f64, f64) = (1.8, 4.6);
/// Mean of the elements at T1 (for conditions at their mean).
pub const ELEMENT_MEAN: f64 = 3.0;
/// Effect of support, HR policy and executive leadership (each) on the elements at T1.
pub const CONDITION_EFFECT: f64 = 0.4;
/// Loading of the elements on the school factor `h`.
pub const ELEMENT_SCHOOL_FACTOR: f64 = 0.15;
/// Loading of each element on its own factor `v_j`.
pub const ELEMENT_OWN_FACTOR: f64 = 0.15;
/// Range the latent levels are clamped to at every wave.
pub const LEVEL_RANGE: (f64, f64) = (1.5, 4.7);
/// Growth of every element per interval between waves.
pub const ELEMENT_GROWTH: f64 = 0.08;
/// SD of a school's element growth per interval.
pub const ELEMENT_GROWTH_SD: f64 = 0.15;
/// Extra growth of inquiring attitude per interval, per point of support at T1 above the mean.
pub const SUPPORT_ON_INQUIRY_GROWTH: f64 = 0.5;
/// Extra growth of developing education together per interval, per point of HR policy at T1
/// above the mean.
pub const HR_ON_DEVELOPING_GROWTH: f64 = 0.5;
/// Extra growth of every element in an interval with a working-and-learning-together
/// intervention.
pub const WORKING_TOGETHER_EFFECT: f64 = 0.3;
/// Drift of every condition per interval.
pub const CONDITION_GROWTH: f64 = 0.03;
/// SD of a school's condition drift per interval.
pub const CONDITION_GROWTH_SD: f64 = 0.08;
/// Extra growth of both leadership conditions and HR policy in an interval with a
/// leadership-development intervention.
pub const LEADERSHIP_DEVELOPMENT_EFFECT: f64 = 0.2;
/// Share of schools whose interventions include working and learning together.
pub const COLLABORATIVE_SHARE: f64 = 2.0 / 3.0;
/// SD of a respondent's stable offset.
pub const RESPONDENT_SD: f64 = 0.5;
/// SD of the noise on each answer.
pub const ITEM_NOISE_SD: f64 = 0.5;
/// SD of an item's fixed difficulty.
pub const ITEM_DIFFICULTY_SD: f64 = 0.15;
/// Role offsets: school leaders, team leaders, support staff (teachers 0).
pub const ROLE_OFFSETS: (f64, f64, f64) = (0.3, 0.15, -0.1);
/// Chance that an item is left unanswered.
pub const MISSING: f64 = 0.05;
/// Chance that an answered item has no desired score.
pub const MISSING_DESIRED: f64 = 0.03;
/// Chances that the desired score is the current one plus 0, 1 or 2 (capped at 5).
pub const DESIRED_GAP: [f64; 3] = [0.25, 0.55, 0.20];
