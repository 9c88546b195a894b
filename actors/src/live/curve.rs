//! A result's per-second energy curve as stored (`results.energy_curve_packed`): the step from
//! each second to the next as a zigzag varint (postcard's encoding of a `Vec<i64>`).
//!
//! Why packed: an hour of 10 000 participants is 36 M points. As `integer[]` that is ≈ 150 MB
//! of arrays for PostgreSQL to build and compress when the session ends (PERFORMANCE scenario 7
//! took 30 s); a cumulative curve rises by a few points a second, so a step mostly fits one byte
//! (≈ 36 MB, stored as it is).

/// `curve` packed; any curve packs, not only rising ones.
pub fn pack(curve: &[i32]) -> Vec<u8> {
    let mut before = 0i64;
    let steps: Vec<i64> = curve
        .iter()
        .map(|&point| {
            let step = i64::from(point) - before;
            before = i64::from(point);
            step
        })
        .collect();
    // Encoding a Vec<i64> into memory has no way to fail.
    postcard::to_allocvec(&steps).unwrap_or_default()
}

/// The curve `packed` holds; an error for bytes [`pack`] did not write.
pub fn unpack(packed: &[u8]) -> anyhow::Result<Vec<i32>> {
    let (steps, rest): (Vec<i64>, _) = postcard::take_from_bytes(packed)?;
    anyhow::ensure!(rest.is_empty(), "{} bytes after the curve", rest.len());
    let mut point = 0i64;
    let mut curve = Vec::with_capacity(steps.len());
    for step in steps {
        point = point
            .checked_add(step)
            .ok_or_else(|| anyhow::anyhow!("a step overflows"))?;
        curve.push(i32::try_from(point)?);
    }
    Ok(curve)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a broken test setup should fail loudly")]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn unpacking_gives_back_what_was_packed(curve in proptest::collection::vec(any::<i32>(), 0..500)) {
            prop_assert_eq!(unpack(&pack(&curve)).unwrap(), curve);
        }

        #[test]
        fn a_curve_rising_by_under_64_a_second_takes_a_byte_a_second(
            steps in proptest::collection::vec(0..64i32, 200..400),
        ) {
            let curve: Vec<i32> = steps.iter().scan(0, |sum, step| { *sum += step; Some(*sum) }).collect();
            // Two bytes say how many points there are.
            prop_assert_eq!(pack(&curve).len(), curve.len() + 2);
        }

        #[test]
        fn any_bytes_unpack_to_a_curve_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = unpack(&bytes);
        }
    }

    #[test]
    fn trailing_bytes_and_overflowing_points_are_errors() {
        let mut packed = pack(&[1, 2, 3]);
        packed.push(0);
        assert!(unpack(&packed).is_err());
        let beyond_i32 = postcard::to_allocvec(&[i64::from(i32::MAX), 1][..]).unwrap();
        assert!(unpack(&beyond_i32).is_err());
    }
}
