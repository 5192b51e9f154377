//! The binary form of stored records: positional fields, LEB128 integers
//! (zigzag when signed), length-prefixed bytes and text.
//!
//! Written by hand rather than derived through serde: every serde
//! deserializer drags in its visitors and error formatting (float printing
//! among it), and records were a third of the wasm binary. A record that
//! does not read back exactly, trailing bytes included, is corrupt.

/// A value that can be stored. `read` returns `None` on anything malformed.
pub trait Record: Sized {
    fn write(&self, w: &mut Writer);
    fn read(r: &mut Reader<'_>) -> Option<Self>;
}

#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new(first: u8) -> Self {
        Self(vec![first])
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    #[expect(
        clippy::cast_possible_truncation,
        reason = "each byte takes the low 7 bits"
    )]
    pub fn uint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    pub fn put<T: Record>(&mut self, value: &T) {
        value.write(self);
    }

    /// An enum variant with data: its tag, then the data.
    pub fn variant<T: Record>(&mut self, tag: u64, value: &T) {
        self.uint(tag);
        value.write(self);
    }
}

#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    /// A LEB128 number of at most ten bytes. The tenth holds only bit 63,
    /// so anything above 1 there (more bits, or a continuation) overflows a
    /// u64 and is refused, as postcard and Go's `binary.Uvarint` refuse it;
    /// reading on would silently drop the high bits.
    pub fn uint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return None;
            }
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    /// A length that cannot exceed what is left, so a corrupt count cannot
    /// ask for a huge allocation.
    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.uint()?).ok()?;
        (n <= self.bytes.len() - self.at).then_some(n)
    }

    pub fn get<T: Record>(&mut self) -> Option<T> {
        T::read(self)
    }
}

impl Record for u8 {
    fn write(&self, w: &mut Writer) {
        w.0.push(*self);
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        r.byte()
    }
}

impl Record for u32 {
    fn write(&self, w: &mut Writer) {
        w.uint(u64::from(*self));
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        u32::try_from(r.uint()?).ok()
    }
}

impl Record for u64 {
    fn write(&self, w: &mut Writer) {
        w.uint(*self);
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        r.uint()
    }
}

impl Record for i64 {
    fn write(&self, w: &mut Writer) {
        w.uint(((*self << 1) ^ (*self >> 63)) as u64);
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let z = r.uint()?;
        Some((z >> 1) as i64 ^ -((z & 1) as i64))
    }
}

impl Record for f64 {
    fn write(&self, w: &mut Writer) {
        w.0.extend_from_slice(&self.to_le_bytes());
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        Some(f64::from_le_bytes(r.take(8)?.try_into().ok()?))
    }
}

impl Record for bool {
    fn write(&self, w: &mut Writer) {
        w.0.push(u8::from(*self));
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        match r.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

impl Record for String {
    fn write(&self, w: &mut Writer) {
        w.uint(self.len() as u64);
        w.0.extend_from_slice(self.as_bytes());
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let n = r.len()?;
        String::from_utf8(r.take(n)?.to_vec()).ok()
    }
}

impl<T: Record> Record for Option<T> {
    fn write(&self, w: &mut Writer) {
        self.is_some().write(w);
        if let Some(value) = self {
            value.write(w);
        }
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        if bool::read(r)? {
            Some(Some(T::read(r)?))
        } else {
            Some(None)
        }
    }
}

impl<T: Record> Record for Vec<T> {
    fn write(&self, w: &mut Writer) {
        w.uint(self.len() as u64);
        for item in self {
            item.write(w);
        }
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        // Every item takes at least one byte.
        let n = r.len()?;
        (0..n).map(|_| T::read(r)).collect()
    }
}

impl<T: Record> Record for Box<T> {
    fn write(&self, w: &mut Writer) {
        (**self).write(w);
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        T::read(r).map(Box::new)
    }
}

/// A fixed-size array: its items, no length.
impl<T: Record + Default + Copy, const N: usize> Record for [T; N] {
    fn write(&self, w: &mut Writer) {
        for item in self {
            item.write(w);
        }
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let mut out = [T::default(); N];
        for slot in &mut out {
            *slot = T::read(r)?;
        }
        Some(out)
    }
}

/// A struct stored as its fields in order. Adding a field changes the
/// record format (see `records::RECORD_FORMAT`).
macro_rules! struct_record {
    ($name:ident { $($field:ident),* $(,)? }) => {
        impl $crate::codec::Record for $name {
            fn write(&self, w: &mut $crate::codec::Writer) {
                $(w.put(&self.$field);)*
            }
            fn read(r: &mut $crate::codec::Reader<'_>) -> Option<Self> {
                Some(Self { $($field: r.get()?,)* })
            }
        }
    };
}

/// Defines a fieldless enum and its `Record`, which stores a variant as its
/// position in the definition: only appending a variant keeps old records
/// readable. One list of variants, so the two cannot drift apart.
macro_rules! unit_enum_record {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$variant_meta])* $variant ),*
        }

        impl $name {
            /// Every variant, in the order they are stored.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
        }

        impl $crate::codec::Record for $name {
            fn write(&self, w: &mut $crate::codec::Writer) {
                let index = Self::ALL.iter().position(|v| v == self).unwrap_or(0);
                w.uint(index as u64);
            }
            fn read(r: &mut $crate::codec::Reader<'_>) -> Option<Self> {
                Self::ALL.get(usize::try_from(r.uint()?).ok()?).copied()
            }
        }
    };
}

pub(crate) use {struct_record, unit_enum_record};

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Record + PartialEq + std::fmt::Debug>(value: &T) -> Option<T> {
        let mut w = Writer::default();
        w.put(value);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let back = r.get::<T>();
        assert!(r.is_empty(), "{value:?} left bytes behind");
        back
    }

    // proptest is a native-only dev-dependency (see Cargo.toml).
    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use super::round_trip;

        proptest! {
            #[test]
            fn values_round_trip(
                a in any::<u64>(),
                b in any::<i64>(),
                c in any::<f64>().prop_filter("NaN", |x| !x.is_nan()),
                s in any::<String>(),
                v in prop::collection::vec(any::<Option<u8>>(), 0..40),
                m in any::<[i64; 5]>(),
            ) {
                prop_assert_eq!(round_trip(&a), Some(a));
                prop_assert_eq!(round_trip(&b), Some(b));
                prop_assert_eq!(round_trip(&c), Some(c));
                prop_assert_eq!(round_trip(&s), Some(s));
                prop_assert_eq!(round_trip(&v), Some(v));
                prop_assert_eq!(round_trip(&m), Some(m));
            }

            #[test]
            fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
                let _ = Reader::new(&bytes).get::<Vec<Option<String>>>();
                let _ = Reader::new(&bytes).get::<[Option<u64>; 3]>();
            }
        }
    }

    #[test]
    fn small_numbers_are_small_and_bad_lengths_are_refused() {
        let mut w = Writer::default();
        w.put(&-1i64);
        w.put(&127u64);
        w.put(&128u64);
        assert_eq!(w.into_bytes(), [1, 127, 0x80, 1]);
        assert_eq!(round_trip(&u64::MAX), Some(u64::MAX));
        assert_eq!(round_trip(&i64::MIN), Some(i64::MIN));
        assert_eq!(round_trip(&Some(vec![0u8, 255])), Some(Some(vec![0, 255])));
        // A length of 2^40 in a 6-byte record.
        assert_eq!(
            Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x20]).get::<String>(),
            None
        );
        // Eleven continuation bytes overflow a u64.
        assert_eq!(Reader::new(&[0xff; 11]).get::<u64>(), None);
        // The tenth byte carries bit 63 alone: 1 is u64::MAX's, 2 and up
        // (or a continuation) would need bits a u64 does not have.
        let mut max = [0xff; 10];
        max[9] = 0x01;
        assert_eq!(Reader::new(&max).get::<u64>(), Some(u64::MAX));
        for last in [0x02, 0x7f, 0x80, 0x81] {
            let mut over = [0xff; 10];
            over[9] = last;
            assert_eq!(
                Reader::new(&over).get::<u64>(),
                None,
                "tenth byte {last:#x}"
            );
        }
        let mut two_pow_63 = [0x80; 10];
        two_pow_63[9] = 0x01;
        assert_eq!(Reader::new(&two_pow_63).get::<u64>(), Some(1 << 63));
        assert_eq!(Reader::new(&max).get::<i64>(), Some(i64::MIN), "zigzag");
        assert_eq!(Reader::new(&[2]).get::<bool>(), None);
        assert_eq!(
            Reader::new(&[2, 0xc3, 0x28]).get::<String>(),
            None,
            "invalid UTF-8"
        );
    }
}
