//! Aligning two item lists by name in linear memory (issue: an (n+1)x(m+1) LCS table aborted
//! on a 10 MB pair): common prefix and suffix, then anchors on names unique in both windows
//! (patience diff: longest increasing subsequence of the anchors, O(k log k)), recursively in
//! the gaps; only windows of at most [`DP_CELLS`] cells use the classic LCS table, where the
//! rename table can pair names that differ.

use std::collections::HashMap;

/// Largest LCS table (cells) built for one window.
pub const DP_CELLS: usize = 4096;
/// Deepest recursion into the gaps between anchors.
const MAX_DEPTH: usize = 24;

/// Index pairs (i, j) of `a` and `b` aligned, in increasing order of both.
pub fn align<T>(
    a: &[T],
    b: &[T],
    key: impl Fn(&T) -> &str,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    window(a, b, 0, 0, &key, &same, 0, &mut out);
    out
}

#[allow(clippy::too_many_arguments)]
fn window<T>(
    a: &[T],
    b: &[T],
    a0: usize,
    b0: usize,
    key: &impl Fn(&T) -> &str,
    same: &impl Fn(&T, &T) -> bool,
    depth: usize,
    out: &mut Vec<(usize, usize)>,
) {
    let mut head = 0;
    while head < a.len() && head < b.len() && same(&a[head], &b[head]) {
        out.push((a0 + head, b0 + head));
        head += 1;
    }
    let mut tail = 0;
    while tail < a.len() - head
        && tail < b.len() - head
        && same(&a[a.len() - 1 - tail], &b[b.len() - 1 - tail])
    {
        tail += 1;
    }
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let (ra, rb) = (a0 + head, b0 + head);
    if !ma.is_empty() && !mb.is_empty() {
        if ma.len().saturating_mul(mb.len()) <= DP_CELLS {
            lcs(ma, mb, ra, rb, same, out);
        } else if depth < MAX_DEPTH {
            anchored(ma, mb, ra, rb, key, same, depth, out);
        }
    }
    out.extend((0..tail).map(|k| (a0 + a.len() - tail + k, b0 + b.len() - tail + k)));
}

#[allow(clippy::too_many_arguments)]
fn anchored<T>(
    a: &[T],
    b: &[T],
    a0: usize,
    b0: usize,
    key: &impl Fn(&T) -> &str,
    same: &impl Fn(&T, &T) -> bool,
    depth: usize,
    out: &mut Vec<(usize, usize)>,
) {
    // key -> (count in a, index in a, count in b, index in b)
    let mut seen: HashMap<&str, (u32, usize, u32, usize)> = HashMap::with_capacity(a.len());
    for (i, x) in a.iter().enumerate() {
        let e = seen.entry(key(x)).or_insert((0, i, 0, 0));
        e.0 += 1;
    }
    for (j, y) in b.iter().enumerate() {
        if let Some(e) = seen.get_mut(key(y)) {
            e.2 += 1;
            e.3 = j;
        }
    }
    let mut anchors: Vec<(usize, usize)> = seen
        .values()
        .filter(|e| e.0 == 1 && e.2 == 1)
        .map(|e| (e.1, e.3))
        .collect();
    anchors.sort_unstable();
    let chain = longest_increasing(&anchors);
    if chain.is_empty() {
        return;
    }
    let (mut pa, mut pb) = (0, 0);
    for (i, j) in chain {
        window(
            &a[pa..i],
            &b[pb..j],
            a0 + pa,
            b0 + pb,
            key,
            same,
            depth + 1,
            out,
        );
        out.push((a0 + i, b0 + j));
        pa = i + 1;
        pb = j + 1;
    }
    window(
        &a[pa..],
        &b[pb..],
        a0 + pa,
        b0 + pb,
        key,
        same,
        depth + 1,
        out,
    );
}

/// The longest chain of pairs increasing in the second index (pairs sorted by the first).
fn longest_increasing(pairs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut tails: Vec<usize> = Vec::new(); // index into pairs of the chain end per length
    let mut prev: Vec<usize> = vec![usize::MAX; pairs.len()];
    for (k, &(_, j)) in pairs.iter().enumerate() {
        let pos = tails.partition_point(|&t| pairs[t].1 < j);
        if pos > 0 {
            prev[k] = tails[pos - 1];
        }
        if pos == tails.len() {
            tails.push(k);
        } else {
            tails[pos] = k;
        }
    }
    let mut chain = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied().unwrap_or(usize::MAX);
    while at != usize::MAX {
        chain.push(pairs[at]);
        at = prev[at];
    }
    chain.reverse();
    chain
}

fn lcs<T>(
    a: &[T],
    b: &[T],
    a0: usize,
    b0: usize,
    same: &impl Fn(&T, &T) -> bool,
    out: &mut Vec<(usize, usize)>,
) {
    let (n, m) = (a.len(), b.len());
    let mut table = vec![0u16; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[at(i, j)] = if same(&a[i], &b[j]) {
                table[at(i + 1, j + 1)] + 1
            } else {
                table[at(i + 1, j)].max(table[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if same(&a[i], &b[j]) && table[at(i, j)] == table[at(i + 1, j + 1)] + 1 {
            out.push((a0 + i, b0 + j));
            i += 1;
            j += 1;
        } else if table[at(i + 1, j)] >= table[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::align;

    fn run(a: &[&str], b: &[&str]) -> Vec<(usize, usize)> {
        align(a, b, |x| x, |x, y| x == y)
    }

    #[test]
    fn insertions_and_deletions() {
        assert_eq!(
            run(&["a", "b", "c", "d"], &["a", "x", "c", "d", "e"]),
            vec![(0, 0), (2, 2), (3, 3)]
        );
        assert_eq!(run(&["a", "b"], &[]), vec![]);
    }

    #[test]
    fn large_lists_align_through_unique_anchors_in_linear_memory() {
        let a: Vec<String> = (0..200_000).map(|i| format!("f{i}")).collect();
        let mut b = a.clone();
        b.remove(100_000);
        b.insert(150_000, "new".into());
        let ar: Vec<&str> = a.iter().map(String::as_str).collect();
        let br: Vec<&str> = b.iter().map(String::as_str).collect();
        let pairs = run(&ar, &br);
        assert_eq!(pairs.len(), 199_999);
        assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    }
}
