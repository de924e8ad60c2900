//! A small deterministic PRNG (SplitMix64) and a Zipf-like skewed picker, integer-only so the
//! output is the same on every platform.

/// SplitMix64: fast, 64 bits of state, good enough for test data (not for anything secret).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// An independent generator for stream `n` of this seed (e.g. one per hour).
    pub fn fork(seed: u64, n: u64) -> Self {
        let mut r = Rng::new(seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        Rng(r.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by widening multiplication (bias is negligible here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// A uniformly chosen element of a non-empty slice.
    pub fn pick<'s, T>(&mut self, items: &'s [T]) -> &'s T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An element chosen by integer weights: `(weight, item)` pairs, weights summing above 0.
    pub fn weighted<'s, T>(&mut self, items: &'s [(u64, T)]) -> &'s T {
        let total: u64 = items.iter().map(|(w, _)| w).sum();
        let mut x = self.below(total);
        for (w, item) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        &items[items.len() - 1].1
    }

    /// A size spread over orders of magnitude: log-uniform between `2^lo_bits` and
    /// `2^(hi_bits+1)`.
    pub fn log_size(&mut self, lo_bits: u32, hi_bits: u32) -> u64 {
        let bits = self.range(u64::from(lo_bits), u64::from(hi_bits)) as u32;
        (1u64 << bits) + self.below(1u64 << bits)
    }
}

/// Picks indices `0..n` with probability proportional to `1 / (k + 1)`: index 0 is the most
/// popular, the tail is long.
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<u64>,
}

impl Zipf {
    /// A picker over `n > 0` items.
    pub fn new(n: usize) -> Self {
        let mut total = 0u64;
        let cumulative = (0..n as u64)
            .map(|k| {
                total += (1u64 << 40) / (k + 1);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    /// One index, drawn with the distribution's weights.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let x = rng.below(total);
        self.cumulative.partition_point(|c| *c <= x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_spread() {
        let a: Vec<u64> = (0..5)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(Rng::fork(7, 1).next_u64(), Rng::fork(7, 2).next_u64());
        let mut r = Rng::new(1);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[r.below(10) as usize] += 1;
        }
        assert!(seen.iter().all(|n| (800..1200).contains(n)), "{seen:?}");
    }

    #[test]
    fn zipf_is_skewed() {
        let z = Zipf::new(100);
        let mut r = Rng::new(3);
        let mut counts = vec![0u32; 100];
        for _ in 0..100_000 {
            counts[z.sample(&mut r)] += 1;
        }
        // 1/H(100) ≈ 19% for the first, about half that for the second, ~0.2% for the last.
        assert!((17_000..21_500).contains(&counts[0]), "{}", counts[0]);
        assert!(counts[1] < counts[0] * 6 / 10);
        assert!(counts[99] > 0 && counts[99] < 500);
    }
}
