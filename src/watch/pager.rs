//! The pager behind StreamBackups (to be written).
