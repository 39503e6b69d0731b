//! What the fault tests share: their own server processes, the app under test, a browser-like client,
//! steady load, and one scenario (warm up, fail, recover) with its figures and expectations.
#![allow(dead_code)]

pub mod app;
pub mod browser;
pub mod load;
pub mod process;
pub mod report;
pub mod scenario;
