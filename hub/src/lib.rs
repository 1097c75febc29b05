//! `swarm-hub`: ingests agent data into sled and answers the API over NATS.

pub mod store;
