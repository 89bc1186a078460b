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
    /// Print everything, however long (by default long lines and long listings are cut).
    #[arg(long)]
    full: bool,
}

/// Longer output lines are cut (a 60 000-character value stays readable; every line of an
/// explanation is shorter) …
const LINE_CHARS: usize = 400;
/// … and so are listings of many devices or keys.
const LINES: usize = 60;

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
    if let Some(too_large) = over_the_packet_limit(topic, payload.len()) {
        crate::outln!("{too_large}");
        return exit::code(exit::BAD_INPUT);
    }
    let (text, code) = match decode(topic, direction, &payload, mode) {
        Ok(decoded) => (
            format!(
                "{}canonical: {}\n",
                render_decoded(&decoded),
                decoded.message.encode()
            ),
            exit::OK,
        ),
        Err(error) => (error.render(), exit::BAD_INPUT),
    };
    crate::out!("{}", if args.full { text } else { shorten(&text) });
    exit::code(code)
}

/// ThingsBoard's MQTT transport refuses a packet whose remaining length is over
/// `max_payload_size` before it reads the payload.
fn over_the_packet_limit(topic: Topic, payload: usize) -> Option<String> {
    use crate::emulator::wire::MAX_PACKET;
    // Topic length prefix, topic, packet id (QoS 1), MQTT 5's empty property length.
    let v3 = 2 + topic.as_str().len() + 2 + payload;
    let v5 = v3 + 1;
    (v3 > MAX_PACKET).then(|| {
        format!(
            "error: a PUBLISH of this payload on {topic} is {v3} bytes long (MQTT 3.1.1, QoS 1; {v5} on MQTT 5), over ThingsBoard's limit of {MAX_PACKET} (transport.mqtt.netty.max_payload_size)\n  payload:  {payload} bytes\n  reason:   {}\n  answer:   ThingsBoard answers DISCONNECT 0x81 Malformed Packet without reading the payload (MQTT 3.1.1: it closes the connection); nothing of it is stored\n  hint:     split the data over several messages of under {} bytes each",
            tbgw_codec::ReasonCode::MALFORMED_PACKET,
            MAX_PACKET - 2 - topic.as_str().len() - 3,
            topic = topic.as_str(),
        )
    })
}

/// Output cut to [`LINES`] lines of at most [`LINE_CHARS`] characters, saying what was cut.
fn shorten(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut cut = false;
    for line in lines.iter().take(LINES) {
        let chars = line.chars().count();
        if chars > LINE_CHARS {
            cut = true;
            let kept: String = line.chars().take(LINE_CHARS).collect();
            out.push_str(&format!(
                "{kept}… ({} more characters)\n",
                chars - LINE_CHARS
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if lines.len() > LINES {
        cut = true;
        out.push_str(&format!("… {} more lines\n", lines.len() - LINES));
    }
    if cut {
        out.push_str("(long output cut: --full prints all of it)\n");
    }
    out
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
