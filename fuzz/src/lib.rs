//! The properties dynlog's fuzz targets check, one function per target;
//! see `properties.rs`, which the stable regression test shares.

pub mod properties;
