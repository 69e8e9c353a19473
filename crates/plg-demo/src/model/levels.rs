//! A school's latent levels on the twelve dimensions at every wave: conditions and elements at
//! T1, and their growth from wave to wave (the crate documentation gives the model).

use rand::rngs::StdRng;

use super::{
    CONDITION_EFFECT, CONDITION_GROWTH, CONDITION_GROWTH_SD, CONDITION_MEAN, CONDITION_OWN_FACTOR,
    CONDITION_RANGE, CONDITION_SCHOOL_FACTOR, ELEMENT_GROWTH, ELEMENT_GROWTH_SD, ELEMENT_MEAN,
    ELEMENT_OWN_FACTOR, ELEMENT_SCHOOL_FACTOR, HR_ON_DEVELOPING_GROWTH, KEY_CONDITION_FACTOR,
    KEY_CONDITION_OWN_FACTOR, LEADERSHIP_DEVELOPMENT_EFFECT, LEVEL_RANGE,
    SUPPORT_ON_INQUIRY_GROWTH, WORKING_TOGETHER_EFFECT,
    instrument::{
        DEVELOPING_TOGETHER, ELEMENTS, EXECUTIVE_LEADERSHIP, HR_POLICY, INQUIRING_ATTITUDE,
        KEY_CONDITIONS, SUPPORT, TEAM_LEADERSHIP,
    },
    random::{clamp, normal},
};

/// A school's latent levels per wave and dimension, given whether it ran a working and
/// learning together intervention, and a leadership development one, in each interval.
pub(crate) fn levels(
    rng: &mut StdRng,
    working_together: [bool; 2],
    leadership: [bool; 2],
) -> [[f64; 12]; 3] {
    let mut levels = [[0.0; 12]; 3];
    let mut first = [0.0; 12];
    let climate = normal(rng, 0.0, 1.0);
    let policy = normal(rng, 0.0, 1.0);
    for (dimension, condition) in first.iter_mut().enumerate().skip(ELEMENTS.end) {
        let (shared, own) = if KEY_CONDITIONS.contains(&dimension) {
            (KEY_CONDITION_FACTOR * policy, KEY_CONDITION_OWN_FACTOR)
        } else {
            (0.0, CONDITION_OWN_FACTOR)
        };
        *condition = clamp(
            CONDITION_MEAN
                + CONDITION_SCHOOL_FACTOR * climate
                + shared
                + own * normal(rng, 0.0, 1.0),
            CONDITION_RANGE,
        );
    }
    let above = |dimension: usize| first[dimension] - CONDITION_MEAN;
    let drive =
        CONDITION_EFFECT * (above(SUPPORT) + above(HR_POLICY) + above(EXECUTIVE_LEADERSHIP));
    let (support, hr_policy) = (above(SUPPORT), above(HR_POLICY));
    let culture = normal(rng, 0.0, 1.0);
    for element in &mut first[ELEMENTS] {
        *element = clamp(
            ELEMENT_MEAN
                + drive
                + ELEMENT_SCHOOL_FACTOR * culture
                + ELEMENT_OWN_FACTOR * normal(rng, 0.0, 1.0),
            LEVEL_RANGE,
        );
    }
    levels[0] = first;
    for interval in 0..2 {
        let mut next = levels[interval];
        for (dimension, level) in next.iter_mut().enumerate() {
            let change = if ELEMENTS.contains(&dimension) {
                let mut growth = ELEMENT_GROWTH + normal(rng, 0.0, ELEMENT_GROWTH_SD);
                if dimension == INQUIRING_ATTITUDE {
                    growth += SUPPORT_ON_INQUIRY_GROWTH * support;
                }
                if dimension == DEVELOPING_TOGETHER {
                    growth += HR_ON_DEVELOPING_GROWTH * hr_policy;
                }
                if working_together[interval] {
                    growth += WORKING_TOGETHER_EFFECT;
                }
                growth
            } else {
                let mut drift = CONDITION_GROWTH + normal(rng, 0.0, CONDITION_GROWTH_SD);
                if leadership[interval]
                    && [EXECUTIVE_LEADERSHIP, TEAM_LEADERSHIP, HR_POLICY].contains(&dimension)
                {
                    drift += LEADERSHIP_DEVELOPMENT_EFFECT;
                }
                drift
            };
            *level = clamp(*level + change, LEVEL_RANGE);
        }
        levels[interval + 1] = next;
    }
    levels
}
