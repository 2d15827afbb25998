//! The straightforward extraction the optimised one replaced (binarised copy, per-strip pixel
//! scans, the crate's Reed-Solomon decoder, a painted expected image): a test oracle that the
//! fast path must match result for result (with the exact tolerance of lossless files), and
//! the per-pixel JPEG scoring the per-column one replaced.

use super::plan::Plan;
use super::*;

/// Pixels per carrier unit side.
const U: usize = UNIT as usize;

fn packed_bits(img: &Canvas, x0: u32, y0: u32, w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let stride = img.width() as usize;
    for y in y0..y0 + h {
        let row = &img.pixels()[y as usize * stride + x0 as usize..][..w as usize];
        for chunk in row.chunks(8) {
            out.push(chunk.iter().enumerate().fold(0u8, |b, (i, &v)| b | (u8::from(v < 128) << (7 - i))));
        }
    }
    out
}

fn content_hash(img: &Canvas) -> [u8; 32] {
    let mut data = b"ereceipt/content/v1\0".to_vec();
    data.extend_from_slice(&img.width().to_be_bytes());
    data.extend_from_slice(&img.height().to_be_bytes());
    data.extend(packed_bits(img, 0, 0, img.width(), img.height()));
    crate::digest::sha256(&data)
}

fn tags(plan: &Plan, img: &Canvas, record_hash: &[u8; 32]) -> Vec<u16> {
    (0..plan.tags)
        .map(|i| {
            let r = plan.tag_rect(i);
            let mut data = b"ereceipt/tag/v1\0".to_vec();
            data.extend_from_slice(record_hash);
            data.extend_from_slice(&(i as u32).to_be_bytes());
            data.extend(packed_bits(img, r.x, r.y, r.w, r.h));
            let h = crate::digest::sha256(&data);
            u16::from_be_bytes([h[0], h[1]]) >> (16 - TAG_BITS)
        })
        .collect()
}

fn strip_is_blank(plan: &Plan, img: &Canvas, strip: usize) -> bool {
    let (x0, y0) = plan.strip_origin(strip);
    let w = plan.width as usize;
    (y0..y0 + UNIT).all(|y| {
        let row = y as usize * w + x0 as usize;
        img.pixels()[row..row + (UNIT * STRIP_UNITS) as usize].iter().all(|&v| v >= 128)
    })
}

fn unit_sum(img: &Canvas, x0: u32, y0: u32) -> u32 {
    let w = img.width() as usize;
    (y0..y0 + UNIT)
        .map(|y| {
            img.pixels()[y as usize * w + x0 as usize..][..UNIT as usize].iter().map(|&v| u32::from(v)).sum::<u32>()
        })
        .sum()
}

pub(super) fn extract(img: &Canvas, record_hash: &[u8; 32], cert: &PosCertificate) -> Extraction {
    let Some(plan) = Plan::new(img.width(), img.height(), record_hash) else {
        return Extraction::Absent;
    };
    let content = binarise(img);
    let one_below = (UNIT * UNIT) * 255 - (UNIT * UNIT) * u32::from(AMPLITUDE) / 2;
    let order = plan.interleave();
    let mut received: Vec<Vec<u8>> = plan.codewords.iter().map(|c| vec![0u8; c.0]).collect();
    let mut erasures: Vec<Vec<u8>> = plan.codewords.iter().map(|_| Vec::new()).collect();
    let (mut units, mut ones) = (0usize, 0usize);
    for (g, &(j, s)) in order.iter().enumerate() {
        let strip = plan.placement[g];
        if !strip_is_blank(&plan, &content, strip) {
            erasures[j].push(s as u8);
            continue;
        }
        let (x0, y0) = plan.strip_origin(strip);
        let mut byte = 0u8;
        for u in 0..STRIP_UNITS {
            let bit = unit_sum(img, x0 + u * UNIT, y0) < one_below;
            byte |= u8::from(bit) << (7 - u);
            units += 1;
            ones += usize::from(bit);
        }
        received[j][s] = byte ^ plan.scramble[g];
    }
    if units == 0 || ones * 20 < units {
        return Extraction::Absent;
    }
    let mut payload = Vec::new();
    let mut corrected: Vec<Vec<u8>> = Vec::new();
    for (j, &(n, k)) in plan.codewords.iter().enumerate() {
        if erasures[j].len() > n - k {
            return Extraction::Unreadable;
        }
        match reed_solomon::Decoder::new(n - k).correct(&received[j], Some(&erasures[j])) {
            Ok(buf) => {
                payload.extend_from_slice(buf.data());
                corrected.push(buf.to_vec());
            }
            Err(_) => return Extraction::Unreadable,
        }
    }
    let (signature, tag_bytes) = payload.split_at(SIG_LEN);
    let tags_read = unpack_tags(tag_bytes, plan.tags);
    let tags_now = tags(&plan, &content, record_hash);
    let digest = content_hash(&content);
    let print = signed_print(&plan, record_hash, &digest, tag_bytes, signature, cert, &super::RECEIPT_PRINTS);
    let signature_valid = print.is_some();
    let mut expected = content.clone();
    let w = plan.width as usize;
    for (g, &(j, s)) in order.iter().enumerate() {
        let strip = plan.placement[g];
        if strip_is_blank(&plan, &content, strip) {
            paint_strip(&mut expected, &plan, strip, corrected[j][s] ^ plan.scramble[g]);
        }
    }
    let mut feature = 0u8;
    let mut regions = Vec::new();
    for i in 0..plan.tags {
        let r = plan.tag_rect(i);
        let mut worst = 0u8;
        for y in r.y..r.y + r.h {
            let row = y as usize * w + r.x as usize;
            let a = &img.pixels()[row..row + r.w as usize];
            let b = &expected.pixels()[row..row + r.w as usize];
            worst = a.iter().zip(b).map(|(&p, &q)| p.abs_diff(q)).fold(worst, u8::max);
        }
        let tag_differs = tags_read[i] != tags_now[i];
        if tag_differs || worst > 0 {
            regions.push(r);
        }
        feature = feature.max(if tag_differs { 255 } else { worst });
    }
    if !signature_valid {
        feature = 255;
    }
    let duplicate = print == Some(Print::Duplicate);
    Extraction::Read(Inspection { signature_valid, feature, threshold: 0, regions, duplicate })
}

/// The JPEG score (see [`JpegModel::score`]) of each localisation block: the largest over its
/// 8×8 units, each judged flat (all ink or all paper in the authenticated content) or mixed,
/// with the same expected levels as [`block_deviations`].
pub(super) fn block_jpeg_scores(
    img: &Canvas,
    plan: &Plan,
    paper: &[u8],
    model: &super::tolerance::JpegModel,
) -> Vec<u8> {
    let w = img.width() as usize;
    let units = w / U;
    let blocks_x = w / TAG_BLOCK as usize;
    let per_block = TAG_BLOCK as usize / U;
    let mut worst = vec![0u8; plan.tags];
    let (mut mask, mut dev, mut energy) = (vec![[0u8; U]; units], vec![0u8; units], vec![0u32; units]);
    for (uy, (band, paper)) in img.pixels().chunks_exact(w * U).zip(paper.chunks_exact(units)).enumerate() {
        dev.fill(0);
        energy.fill(0);
        for (r, row) in band.chunks_exact(w).enumerate() {
            for (u, (px, &level)) in row.chunks_exact(U).zip(paper).enumerate() {
                let (mut bits, mut d, mut e) = (0u8, 0u8, 0u32);
                for &v in px {
                    let is_ink = v < 128;
                    let delta = if is_ink { v } else { v.abs_diff(level) };
                    bits = bits << 1 | u8::from(is_ink);
                    d = d.max(delta);
                    e += u32::from(delta) * u32::from(delta);
                }
                mask[u][r] = bits;
                dev[u] = dev[u].max(d);
                energy[u] += e;
            }
        }
        let blocks = &mut worst[uy / per_block * blocks_x..][..blocks_x];
        for u in 0..units {
            let m = &mask[u];
            let mixed = m.iter().any(|&b| b != 0) && m.iter().any(|&b| b != 0xff);
            let score = model.score(mixed.then_some((m, paper[u])), dev[u], energy[u]);
            let b = &mut blocks[u / per_block];
            *b = (*b).max(score);
        }
    }
    worst
}
