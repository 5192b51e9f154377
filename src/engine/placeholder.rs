//! The thumbnail sent when the host supplies none and none can be made
//! (outside a browser, or a format the browser cannot decode): a valid
//! 1x1 grey PNG, so every file record has a thumbnail object as Ente expects.

pub const PLACEHOLDER_THUMBNAIL: [u8; 69] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0,
    0, 0, 144, 119, 83, 222, 0, 0, 0, 12, 73, 68, 65, 84, 120, 156, 99, 104, 104, 104, 0, 0, 3, 4,
    1, 129, 75, 211, 210, 16, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

#[cfg(test)]
mod tests {
    #[test]
    fn is_a_png() {
        assert_eq!(&super::PLACEHOLDER_THUMBNAIL[..8], b"\x89PNG\r\n\x1a\n");
    }
}
