//! End-to-end tests against the real Docker engine (one test binary, so that the Docker tests can
//! run one at a time behind one lock). Each test owns a uniquely named cluster.

mod backup;
mod bench;
mod converge;
mod daytwo;
mod down;
mod ha;
mod harness;
mod kill;
mod lifecycle;
mod monitoring;
mod refusals;
mod rotation;
mod security;
#[path = "../support/mod.rs"]
mod support;
mod verify;
mod writer;
