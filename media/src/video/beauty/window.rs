//! Window sums over a plane in O(1) per cell, whatever the radius: a running sum per column
//! down the rows, then a running sum along each row. Edges are replicated (a window that hangs
//! over the border counts the border row or column again), so every window has the same count.

/// Sums of the `(2r+1)x(2r+1)` window around each cell, produced one row at a time, top to
/// bottom. The buffers are kept between frames.
#[derive(Default)]
pub(super) struct Windows {
    radius: usize,
    width: usize,
    height: usize,
    /// The next row to produce.
    row: usize,
    /// Column sums of the window rows around `row`.
    columns: Vec<u32>,
    /// `columns` with `radius` replicated cells on each side.
    padded: Vec<u32>,
}

impl Windows {
    /// Starts over on a `width`x`height` plane with windows of radius `radius`.
    pub fn start<T: Copy + Into<u32>>(
        &mut self,
        plane: &[T],
        width: usize,
        height: usize,
        radius: usize,
    ) {
        debug_assert_eq!(plane.len(), width * height);
        self.radius = radius;
        self.width = width;
        self.height = height;
        self.row = 0;
        self.columns.clear();
        self.columns.resize(width, 0);
        self.padded.resize(width + 2 * radius, 0);
        for d in 0..=2 * radius {
            let at = d.saturating_sub(radius).min(height - 1);
            add_row(&mut self.columns, &plane[at * width..][..width]);
        }
    }

    /// The window sums of the next row into `out` (`width` long); rows come in order.
    pub fn next_row<T: Copy + Into<u32>>(&mut self, plane: &[T], out: &mut [u32]) {
        let (r, width) = (self.radius, self.width);
        debug_assert!(self.row < self.height && out.len() == width);
        let (first, last) = (self.columns[0], self.columns[width - 1]);
        self.padded[..r].fill(first);
        self.padded[r..r + width].copy_from_slice(&self.columns);
        self.padded[r + width..].fill(last);
        let mut sum: u32 = self.padded[..=2 * r].iter().sum();
        out[0] = sum;
        let entering = &self.padded[2 * r + 1..];
        for ((o, &enter), &leave) in out[1..].iter_mut().zip(entering).zip(&self.padded) {
            // The difference may wrap, the sum cannot (it holds `leave`); one add per cell
            // on the running chain.
            sum = sum.wrapping_add(enter.wrapping_sub(leave));
            *o = sum;
        }

        // Slide the column sums down one row: the row below the window enters, the top leaves.
        let y = self.row;
        self.row += 1;
        if self.row < self.height {
            let enter = (y + r + 1).min(self.height - 1);
            let leave = y.saturating_sub(r);
            let (enter, leave) = (
                &plane[enter * width..][..width],
                &plane[leave * width..][..width],
            );
            for ((c, &e), &l) in self.columns.iter_mut().zip(enter).zip(leave) {
                *c = (*c + e.into()) - l.into();
            }
        }
    }
}

fn add_row<T: Copy + Into<u32>>(sums: &mut [u32], row: &[T]) {
    for (s, &v) in sums.iter_mut().zip(row) {
        *s += v.into();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The windows, summed the slow way.
    fn naive(plane: &[u16], width: usize, height: usize, radius: usize) -> Vec<u32> {
        let r = radius as isize;
        let at = |x: isize, y: isize| {
            let x = x.clamp(0, width as isize - 1) as usize;
            let y = y.clamp(0, height as isize - 1) as usize;
            u32::from(plane[y * width + x])
        };
        let mut out = Vec::new();
        for y in 0..height as isize {
            for x in 0..width as isize {
                let mut sum = 0;
                for dy in -r..=r {
                    for dx in -r..=r {
                        sum += at(x + dx, y + dy);
                    }
                }
                out.push(sum);
            }
        }
        out
    }

    #[test]
    fn running_sums_equal_naive_sums_with_replicated_edges() {
        let (width, height) = (13, 9);
        let plane: Vec<u16> = (0..width * height)
            .map(|i| ((i * 7919) % 1021) as u16)
            .collect();
        for radius in [1, 2, 5, 12] {
            let mut windows = Windows::default();
            windows.start(&plane, width, height, radius);
            let mut got = vec![0; width * height];
            for row in got.chunks_exact_mut(width) {
                windows.next_row(&plane, row);
            }
            assert_eq!(got, naive(&plane, width, height, radius), "radius {radius}");
        }
    }
}
