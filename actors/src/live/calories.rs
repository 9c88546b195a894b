//! Calorie estimates: from heart rate when we can, from effort rating otherwise (DESIGN §5).
//!
//! - [`keytel_kcal_per_min`]: Keytel et al. 2005, "Prediction of energy expenditure from heart
//!   rate monitoring during submaximal exercise". Needs heart rate, sex, age and weight; the
//!   regression gives kJ/min, which we divide by 4.184 to get kcal/min.
//! - [`met_kcal_per_min`]: the standard MET conversion (kcal/min = MET × 3.5 × kg / 200), with
//!   the MET read off the rating linearly between [`REST_MET`] and [`MAX_MET`].
//!
//! [`estimate`] picks per second: Keytel when that second has a heart rate and the profile is
//! complete, MET otherwise, so a chest strap that drops out for a minute costs accuracy for that
//! minute only.

use serde::{Deserialize, Serialize};

/// Weight assumed when a profile has none: a round adult figure, so MET estimates stay usable.
pub const DEFAULT_WEIGHT_KG: f32 = 70.0;

/// MET at rating 0: standing or sitting quietly in the class, about 1.5 MET in the Compendium of
/// Physical Activities (1 MET is lying still).
pub const REST_MET: f64 = 1.5;

/// MET at rating 100: all-out interval training, about 12 MET in the Compendium.
pub const MAX_MET: f64 = 12.0;

/// Kilojoules per kilocalorie; Keytel's regression is in kJ.
const KJ_PER_KCAL: f64 = 4.184;

/// Biological sex, as the Keytel regression distinguishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Uses the women's coefficients.
    Female,
    /// Uses the men's coefficients.
    Male,
}

/// Which formula produced an estimate; stored with the result so it can be explained later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Heart rate and a full profile (at least one second of the session).
    Keytel,
    /// Effort rating and weight only.
    Met,
}

/// The profile facts the formulas use; any of them may be unknown. Stored with each result, so a
/// later change of profile never changes an old result's calories.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Body {
    /// Body weight in kilograms. Unknown, non-finite or non-positive means [`DEFAULT_WEIGHT_KG`]
    /// for MET and "profile incomplete" for Keytel.
    pub weight_kg: Option<f32>,
    /// Age in whole years.
    pub age_years: Option<u32>,
    /// Sex, for choosing Keytel's coefficients.
    pub sex: Option<Sex>,
}

impl Body {
    /// The weight if it is a usable number.
    fn known_weight(&self) -> Option<f64> {
        self.weight_kg
            .map(f64::from)
            .filter(|kg| kg.is_finite() && *kg > 0.0)
    }

    /// Weight, sex and age, if all three are known: what Keytel needs besides heart rate.
    fn keytel_profile(&self) -> Option<(f64, u32, Sex)> {
        Some((self.known_weight()?, self.age_years?, self.sex?))
    }
}

/// Energy expenditure in kcal/min from heart rate (Keytel et al. 2005):
/// - men: (−55.0969 + 0.6309·HR + 0.1988·kg + 0.2017·age) / 4.184
/// - women: (−20.4022 + 0.4472·HR − 0.1263·kg + 0.074·age) / 4.184
///
/// Clamped at 0: at very low heart rates the regression goes negative, which means "resting",
/// not "gaining energy". Non-finite inputs give 0 rather than a NaN that would poison a sum.
pub fn keytel_kcal_per_min(hr_bpm: f64, weight_kg: f64, age_years: u32, sex: Sex) -> f64 {
    let age = f64::from(age_years);
    let kj_per_min = match sex {
        Sex::Male => -55.0969 + 0.6309 * hr_bpm + 0.1988 * weight_kg + 0.2017 * age,
        Sex::Female => -20.4022 + 0.4472 * hr_bpm - 0.1263 * weight_kg + 0.074 * age,
    };
    non_negative(kj_per_min / KJ_PER_KCAL)
}

/// Energy expenditure in kcal/min from effort: MET × 3.5 × kg / 200, where 3.5 ml O₂/kg/min is
/// one MET and 200 converts ml O₂ × kg to kcal (about 5 kcal per litre of O₂).
///
/// MET = [`REST_MET`] + (rating / 100) × ([`MAX_MET`] − [`REST_MET`]): linear in rating because
/// the rating is itself a linear effort scale; a rating outside 0..=100 is clamped to it.
pub fn met_kcal_per_min(rating: f64, weight_kg: f64) -> f64 {
    let effort = if rating.is_nan() {
        0.0
    } else {
        rating.clamp(0.0, 100.0) / 100.0
    };
    let met = REST_MET + effort * (MAX_MET - REST_MET);
    non_negative(met * 3.5 * weight_kg / 200.0)
}

/// Total kcal over a session, one `(rating, heart rate)` item per second of presence, and the
/// method used.
///
/// Each second uses Keytel if it has a heart rate and `body` has sex, age and a usable weight,
/// and MET otherwise (with [`DEFAULT_WEIGHT_KG`] when the weight is unknown). The method reported
/// is [`Method::Keytel`] if any second used it, since those seconds dominate the accuracy.
pub fn estimate(
    body: &Body,
    per_second: impl Iterator<Item = (f32, Option<f32>)>,
) -> (f64, Method) {
    let profile = body.keytel_profile();
    let met_weight = body.known_weight().unwrap_or(f64::from(DEFAULT_WEIGHT_KG));
    let mut kcal = 0.0;
    let mut method = Method::Met;
    for (rating, hr) in per_second {
        let per_min = match (hr, profile) {
            (Some(hr), Some((weight, age, sex))) => {
                method = Method::Keytel;
                keytel_kcal_per_min(f64::from(hr), weight, age, sex)
            }
            _ => met_kcal_per_min(f64::from(rating), met_weight),
        };
        kcal += per_min / 60.0;
    }
    (kcal, method)
}

/// `x` if it is a finite positive number, else 0.
fn non_negative(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn keytel_matches_hand_computed_examples() {
        let cases = [
            // Man, 150 bpm, 80 kg, 30 y:
            // −55.0969 + 94.635 + 15.904 + 6.051 = 61.4931 kJ/min; / 4.184 = 14.697204 kcal/min.
            (150.0, 80.0, 30, Sex::Male, 14.697_203_632_887_192),
            // Woman, 140 bpm, 60 kg, 25 y:
            // −20.4022 + 62.608 − 7.578 + 1.85 = 36.4778 kJ/min; / 4.184 = 8.718403 kcal/min.
            (140.0, 60.0, 25, Sex::Female, 8.718_403_441_682_598),
            // Man at 40 bpm, 50 kg, 20 y: −55.0969 + 25.236 + 9.94 + 4.034 < 0, so 0.
            (40.0, 50.0, 20, Sex::Male, 0.0),
            (f64::NAN, 80.0, 30, Sex::Female, 0.0),
        ];
        for (hr, kg, age, sex, expected) in cases {
            let got = keytel_kcal_per_min(hr, kg, age, sex);
            assert!(close(got, expected), "{hr} {kg} {age} {sex:?}: {got}");
        }
    }

    #[test]
    fn met_spans_rest_to_all_out() {
        let cases = [
            // 1.5 MET × 3.5 × 70 / 200 = 1.8375 kcal/min.
            (0.0, 70.0, 1.8375),
            // 12 MET × 3.5 × 70 / 200 = 14.7 kcal/min.
            (100.0, 70.0, 14.7),
            // Halfway: 6.75 MET × 3.5 × 80 / 200 = 9.45 kcal/min.
            (50.0, 80.0, 9.45),
            // Out of range clamps.
            (250.0, 70.0, 14.7),
            (-3.0, 70.0, 1.8375),
            (f64::NAN, 70.0, 1.8375),
        ];
        for (rating, kg, expected) in cases {
            let got = met_kcal_per_min(rating, kg);
            assert!(close(got, expected), "{rating} {kg}: {got}");
        }
    }

    #[test]
    fn estimate_picks_the_method_per_second() {
        let full = Body {
            weight_kg: Some(80.0),
            age_years: Some(30),
            sex: Some(Sex::Male),
        };
        let no_age = Body {
            age_years: None,
            ..full
        };
        let bogus_weight = Body {
            weight_kg: Some(f32::NAN),
            ..Body::default()
        };
        let keytel_min = 14.697_203_632_887_192;
        let cases = [
            // A minute at 150 bpm with a full profile: one minute of Keytel.
            (
                full,
                vec![(50.0, Some(150.0)); 60],
                keytel_min,
                Method::Keytel,
            ),
            // Heart rate for half the minute: Keytel for those seconds, MET (80 kg) for the rest.
            (
                full,
                [vec![(100.0, Some(150.0)); 30], vec![(100.0, None); 30]].concat(),
                keytel_min / 2.0 + 12.0 * 3.5 * 80.0 / 200.0 / 2.0,
                Method::Keytel,
            ),
            // Incomplete profile: heart rate is ignored, MET with the known weight.
            (
                no_age,
                vec![(100.0, Some(150.0)); 60],
                12.0 * 3.5 * 80.0 / 200.0,
                Method::Met,
            ),
            // No profile at all: MET with the default 70 kg.
            (
                Body::default(),
                vec![(100.0, Some(150.0)); 60],
                14.7,
                Method::Met,
            ),
            (bogus_weight, vec![(0.0, None); 60], 1.8375, Method::Met),
            // No seconds, no calories.
            (full, vec![], 0.0, Method::Met),
        ];
        for (body, seconds, kcal, method) in cases {
            let (got, got_method) = estimate(&body, seconds.into_iter());
            assert!(close(got, kcal), "{body:?}: {got} vs {kcal}");
            assert_eq!(got_method, method, "{body:?}");
        }
    }
}
