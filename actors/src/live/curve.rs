//! A result's per-second energy curve as stored (`results.energy_curve_packed`): the step from
//! each second to the next as a zigzag varint (postcard's encoding of a `Vec<i64>`).
//!
//! Why packed: an hour of 10 000 participants is 36 M points. As `integer[]` that is ≈ 150 MB
//! of arrays for PostgreSQL to build and compress when the session ends (PERFORMANCE scenario 7
//! took 30 s); a cumulative curve rises by a few points a second, so a step mostly fits one byte
//! (≈ 36 MB, stored as it is).

/// `curve` packed; any curve packs, not only rising ones.
///
/// Written by hand rather than through postcard's serializer: ending an hour-long class of
/// 10 000 packs 36 M points, and postcard's per-element path (or collecting the steps first) took
/// a fifth of the end's write. The bytes are postcard's, which [`unpack`] reads and a property
/// test pins.
pub fn pack(curve: &[i32]) -> Vec<u8> {
    // The length prefix and about a byte a second: one allocation for a typical curve.
    let mut packed = Vec::with_capacity(curve.len() + 8);
    push_varint(&mut packed, curve.len() as u64);
    let mut before = 0i64;
    for &point in curve {
        let step = i64::from(point) - before;
        before = i64::from(point);
        // Zigzag: small steps of either sign take few bytes.
        push_varint(&mut packed, ((step << 1) ^ (step >> 63)) as u64);
    }
    packed
}

/// `value` as a varint: seven bits a byte, least significant first, the high bit set on every
/// byte but the last (postcard's, and LEB128's, unsigned encoding).
fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
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
        fn the_packing_is_postcards_vec_of_steps(curve in proptest::collection::vec(any::<i32>(), 0..500)) {
            let steps: Vec<i64> = std::iter::once(0)
                .chain(curve.iter().map(|&p| i64::from(p)))
                .collect::<Vec<_>>()
                .windows(2)
                .map(|w| w[1] - w[0])
                .collect();
            prop_assert_eq!(pack(&curve), postcard::to_allocvec(&steps).unwrap());
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
