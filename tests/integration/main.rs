//! Integration tests against the local stack deployed from `template.yaml` with the real
//! bootstraps. Run through `infra/test`, which starts the stack and exports its outputs.
//! One binary built from modules, so the dependency tree links once.

mod helpers;

mod adapters;
mod backstop;
mod connect;
mod fidelity;
mod hostile;
mod http;
mod identity;
mod killed;
mod limits;
mod metrics;
mod pipeline;
mod progress;
mod subscribe;
mod sweep;
