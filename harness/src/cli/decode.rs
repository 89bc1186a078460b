//! `tbgw decode --topic T [--from gateway|platform] [--mode strict|thingsboard] [FILE|-]`

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use tbgw_codec::render::render_decoded;
use tbgw_codec::{Direction, Mode, ReasonCode, Topic, decode};

use crate::exit;

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The topic the payload was published on, e.g. v1/gateway/telemetry.
    #[arg(long, short)]
    topic: String,
    /// Who published it [default: gateway, or platform for v1/gateway/attributes/response].
    #[arg(long, value_enum)]
    from: Option<Sender>,
    /// `thingsboard`: what ThingsBoard 4.3 accepts, with the leniencies it applies;
    /// `strict`: only the clean, documented forms.
    #[arg(long, value_enum, default_value_t = ModeArg::Thingsboard)]
    mode: ModeArg,
    /// The payload file; `-` or nothing reads standard input.
    file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Sender {
    Gateway,
    Platform,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModeArg {
    Strict,
    Thingsboard,
}

pub fn run(args: DecodeArgs) -> ExitCode {
    let Some(topic) = Topic::from_name(&args.topic) else {
        return unknown_topic(&args.topic);
    };
    let direction = match args.from {
        Some(Sender::Gateway) => Direction::GatewayToPlatform,
        Some(Sender::Platform) => Direction::PlatformToGateway,
        None if topic.carries(Direction::GatewayToPlatform) => Direction::GatewayToPlatform,
        None => Direction::PlatformToGateway,
    };
    let mode = match args.mode {
        ModeArg::Strict => Mode::Strict,
        ModeArg::Thingsboard => Mode::ThingsBoard,
    };
    let payload = match read_payload(args.file.as_ref()) {
        Ok(payload) => payload,
        Err(message) => {
            crate::errln!("tbgw decode: {message}");
            return exit::code(exit::BAD_INPUT);
        }
    };
    match decode(topic, direction, &payload, mode) {
        Ok(decoded) => {
            crate::out!("{}", render_decoded(&decoded));
            crate::outln!("canonical: {}", decoded.message.encode());
            exit::code(exit::OK)
        }
        Err(error) => {
            crate::out!("{}", error.render());
            exit::code(exit::BAD_INPUT)
        }
    }
}

fn read_payload(file: Option<&PathBuf>) -> Result<Vec<u8>, String> {
    match file {
        Some(path) if path.as_os_str() != "-" => std::fs::read(path)
            .map_err(|e| format!("cannot read the payload file {}: {e}", path.display())),
        _ => {
            let mut payload = Vec::new();
            std::io::stdin()
                .read_to_end(&mut payload)
                .map_err(|e| format!("cannot read the payload from standard input: {e}"))?;
            Ok(payload)
        }
    }
}

/// ThingsBoard routes every topic that starts with `v1/gateway` to the gateway handler and
/// answers 0x90 for names it does not know; other topics are not part of the gateway API.
fn unknown_topic(name: &str) -> ExitCode {
    let known: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
    if name.starts_with("v1/gateway") {
        crate::outln!(
            "error: `{name}` is not a gateway topic\n  reason:   {}\n  answer:   ThingsBoard answers PUBACK 0x90 and keeps the connection (MQTT 3.1.1: a plain PUBACK)\n  topics:   {}",
            ReasonCode::TOPIC_NAME_INVALID,
            known.join(", ")
        );
    } else {
        crate::outln!(
            "error: `{name}` is not a gateway topic; the gateway topics are: {}",
            known.join(", ")
        );
    }
    exit::code(exit::BAD_INPUT)
}
