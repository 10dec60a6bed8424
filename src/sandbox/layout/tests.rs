//! The layer writer's framing (CRC-32, tar checksum) and the specs a layout refuses.

use super::archive::{crc32_update, tar_header};
use super::*;

#[test]
fn crc32_matches_reference_vector() {
    assert_eq!(crc32_update(0, b"123456789"), 0xCBF4_3926);
    // Incremental updates must agree with one-shot ones.
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let split = crc32_update(crc32_update(0, &data[..333]), &data[333..]);
    assert_eq!(split, crc32_update(0, &data));
}

#[test]
fn tar_header_checksum_is_valid() {
    let header = tar_header("a/b.bin", 1234, 1_700_000_000).expect("header");
    let mut copy = header;
    copy[148..156].fill(b' ');
    let sum: u32 = copy.iter().map(|&b| u32::from(b)).sum();
    assert_eq!(&header[148..156], format!("{sum:06o}\0 ").as_bytes());
    assert_eq!(&header[124..136], b"00000002322\0");
}

#[test]
fn rejects_bad_specs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = ImageSpec::small(1);
    spec.platforms = vec!["amd64".into(), "linux/amd64".into()];
    assert!(build_oci_layout(dir.path(), "v1", &spec).is_err());
    let mut spec = ImageSpec::small(1);
    spec.created = "yesterday".into();
    assert!(build_oci_layout(dir.path(), "v1", &spec).is_err());
    assert!(build_oci_layout(dir.path(), "bad:tag", &ImageSpec::small(1)).is_err());
}
