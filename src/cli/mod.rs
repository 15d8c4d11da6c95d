//! The subcommands of the `livestage` binary, one file each.

pub mod bot;
pub mod bot_media;
pub mod bot_moderate;
pub mod bot_music;
pub mod bot_publish;
pub mod bot_relay;
pub mod cameras;
pub mod demo;
pub mod inject;
pub mod load;
pub mod load_churn;
pub mod pattern;
pub mod proxy;
pub mod push;
pub mod screens;
pub mod serve;
pub mod token;
