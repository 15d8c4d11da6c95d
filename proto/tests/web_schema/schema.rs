//! The schema half of the `web_schema` test (see main.rs): traces the wire types into the
//! registry written to web/schema/wire.json, and reads postcard bytes by that registry alone, as
//! web/src/codec.ts does, to check each golden vector against serde's own encodings.
//!
//! Every wire type has a serde name of its own (the push, inject and relay requests are renamed
//! `PushRequest`, `InjectRequest` and `RelayRequest` beside `wire::Request`): serde-reflection
//! keys types by that bare name, so two types sharing one would be traced as one.

use std::collections::BTreeSet;
use std::fmt::{Debug, Write as _};
use std::net::{IpAddr, SocketAddr};

use livestage_proto::error::ErrorCode;
use livestage_proto::media::{Layer, VideoHeader};
use livestage_proto::track::{Kind, Source};
use livestage_proto::wire::{
    self, Action, ClientFrame, Event, Hello, Intent, LeaveReason, Profile, Request, Role,
    ServerFrame,
};
use livestage_proto::{inject, push, relay};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use serde_reflection::{
    ContainerFormat, Format, FormatHolder, Registry, Tracer, TracerConfig, VariantFormat,
};

// ---------------------------------------------------------------------------------------------
// The schema

/// Traces `T` (every variant, when an enum) into `tracer`.
fn trace<T: DeserializeOwned>(tracer: &mut Tracer) {
    if let Err(e) = tracer.trace_simple_type::<T>() {
        panic!(
            "tracing {}: {e} {} (do two wire types share a serde name?)",
            std::any::type_name::<T>(),
            e.explanation()
        );
    }
}

fn finish(tracer: Tracer) -> Registry {
    tracer
        .registry()
        .unwrap_or_else(|e| panic!("{e}: trace the enums it names in `schema()`"))
}

/// The registry of every type that crosses the control stream or heads a video stream. Nested
/// enums are traced before the types that hold them, so that each is traced in full.
pub(crate) fn schema() -> Registry {
    let mut t = Tracer::new(TracerConfig::default());
    trace::<Role>(&mut t);
    trace::<Profile>(&mut t);
    trace::<Layer>(&mut t);
    trace::<LeaveReason>(&mut t);
    trace::<ErrorCode>(&mut t);
    trace::<Kind>(&mut t);
    trace::<Source>(&mut t);
    trace::<SocketAddr>(&mut t);
    trace::<push::Fit>(&mut t);
    trace::<push::FailReason>(&mut t);
    trace::<push::UrlState>(&mut t);
    trace::<relay::State>(&mut t);
    trace::<push::Request>(&mut t);
    trace::<inject::Request>(&mut t);
    trace::<relay::Request>(&mut t);
    trace::<Action>(&mut t);
    trace::<Intent>(&mut t);
    trace::<Event>(&mut t);
    trace::<Request>(&mut t);
    trace::<ClientFrame>(&mut t);
    trace::<ServerFrame>(&mut t);
    trace::<Hello>(&mut t);
    trace::<VideoHeader>(&mut t);
    let registry = finish(t);
    assert_acyclic(&registry);
    registry
}

/// The wire types are not recursive; a cycle in the registry means two types share a serde
/// name and one was traced as a reference to the other.
fn assert_acyclic(registry: &Registry) {
    fn visit<'a>(registry: &'a Registry, name: &'a str, path: &mut Vec<&'a str>) {
        if path.contains(&name) {
            panic!("the schema has a cycle {path:?} -> {name}: two types share a serde name");
        }
        path.push(name);
        let container = &registry[name];
        let mut refs = Vec::new();
        container
            .visit(&mut |f| {
                if let Format::TypeName(n) = f {
                    refs.push(n.as_str());
                }
                Ok(())
            })
            .expect("a traced registry has no variables");
        for n in refs {
            visit(registry, n, path);
        }
        path.pop();
    }
    for name in registry.keys() {
        visit(registry, name, &mut Vec::new());
    }
}

pub(crate) fn schema_text(registry: &Registry) -> String {
    #[derive(Serialize)]
    struct SchemaFile<'a> {
        version: u16,
        max_frame: usize,
        types: &'a Registry,
    }
    let file = SchemaFile {
        version: wire::VERSION,
        max_frame: wire::MAX_FRAME,
        types: registry,
    };
    serde_json::to_string_pretty(&file).expect("the schema serializes") + "\n"
}

// ---------------------------------------------------------------------------------------------
// Reading postcard by the schema alone

/// Reads postcard bytes with nothing but the registry (as web/src/codec.ts does) into the value
/// shape serde_json uses, noting each enum variant it meets.
struct Reader<'a> {
    registry: &'a Registry,
    bytes: &'a [u8],
    seen: &'a mut BTreeSet<(String, String)>,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(n <= self.bytes.len(), "the schema reads past the end");
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        head
    }

    fn byte(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn varint(&mut self) -> u64 {
        let mut n = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte();
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return n;
            }
        }
        panic!("varint longer than 10 bytes")
    }

    fn len(&mut self) -> usize {
        usize::try_from(self.varint()).expect("length fits usize")
    }

    fn zigzag(&mut self) -> i64 {
        let n = self.varint();
        (n >> 1) as i64 ^ -((n & 1) as i64)
    }

    fn read(&mut self, format: &Format) -> Json {
        match format {
            Format::TypeName(name) => self.container(name),
            Format::Unit => Json::Null,
            Format::Bool => match self.byte() {
                0 => false.into(),
                1 => true.into(),
                b => panic!("bool byte {b}"),
            },
            Format::U8 => self.byte().into(),
            Format::I8 => (self.byte() as i8).into(),
            Format::U16 | Format::U32 | Format::U64 => self.varint().into(),
            Format::I16 | Format::I32 | Format::I64 => self.zigzag().into(),
            Format::Str => {
                let n = self.len();
                String::from_utf8(self.take(n).to_vec())
                    .expect("UTF-8")
                    .into()
            }
            Format::Option(inner) => match self.byte() {
                0 => Json::Null,
                1 => self.read(inner),
                b => panic!("option tag {b}"),
            },
            Format::Seq(item) => {
                let n = self.len();
                (0..n).map(|_| self.read(item)).collect()
            }
            Format::Tuple(items) => items.iter().map(|f| self.read(f)).collect(),
            Format::TupleArray { content, size } => {
                (0..*size).map(|_| self.read(content)).collect()
            }
            other => panic!("no wire type uses {other:?} yet; teach this reader and codec.ts"),
        }
    }

    fn fields(&mut self, fields: &[serde_reflection::Named<Format>]) -> Json {
        let object = fields.iter().map(|f| (f.name.clone(), self.read(&f.value)));
        Json::Object(object.collect())
    }

    fn container(&mut self, name: &str) -> Json {
        let registry = self.registry;
        match &registry[name] {
            ContainerFormat::UnitStruct => Json::Null,
            ContainerFormat::NewTypeStruct(inner) => self.read(inner),
            ContainerFormat::TupleStruct(items) => items.iter().map(|f| self.read(f)).collect(),
            ContainerFormat::Struct(fields) => self.fields(fields),
            ContainerFormat::Enum(variants) => {
                let index = u32::try_from(self.varint()).expect("variant index fits u32");
                let variant = variants
                    .get(&index)
                    .unwrap_or_else(|| panic!("{name} has no variant {index}"));
                self.seen.insert((name.to_owned(), variant.name.clone()));
                let content = match &variant.value {
                    VariantFormat::Unit => return Json::String(variant.name.clone()),
                    VariantFormat::NewType(inner) => self.read(inner),
                    VariantFormat::Tuple(items) => items.iter().map(|f| self.read(f)).collect(),
                    VariantFormat::Struct(fields) => self.fields(fields),
                    VariantFormat::Variable(_) => {
                        unreachable!("a traced registry has no variables")
                    }
                };
                Json::Object([(variant.name.clone(), content)].into_iter().collect())
            }
        }
    }
}

/// A postcard `SocketAddr` as the schema reads it: `{"V4": [[a, b, c, d], port]}`.
fn socket_addr(json: &Json) -> Option<SocketAddr> {
    let (tag, body) = json.as_object()?.iter().next()?;
    let [ip, port] = body.as_array()?.as_slice() else {
        return None;
    };
    let octets = ip
        .as_array()?
        .iter()
        .map(|b| u8::try_from(b.as_u64()?).ok());
    let octets: Vec<u8> = octets.collect::<Option<_>>()?;
    let ip: IpAddr = match tag.as_str() {
        "V4" => <[u8; 4]>::try_from(octets).ok()?.into(),
        "V6" => <[u8; 16]>::try_from(octets).ok()?.into(),
        _ => return None,
    };
    Some(SocketAddr::new(ip, u16::try_from(port.as_u64()?).ok()?))
}

/// Whether the schema's reading equals serde_json's value, a socket address being postcard's
/// enum in one and a string in the other.
fn same_value(schema: &Json, json: &Json) -> bool {
    match (schema, json) {
        (Json::Object(_), Json::String(s)) => {
            socket_addr(schema).is_some_and(|a| s.parse::<SocketAddr>() == Ok(a))
        }
        (Json::Object(a), Json::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_value(v, w)))
        }
        (Json::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| same_value(v, w))
        }
        _ => schema == json,
    }
}

// ---------------------------------------------------------------------------------------------
// Golden vectors

/// One vector, checked against the Rust value it came from.
pub(crate) fn vector<T>(
    registry: &Registry,
    seen: &mut BTreeSet<(String, String)>,
    type_name: &str,
    value: &T,
) -> Vector
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = postcard::to_stdvec(value).expect("postcard serializes the wire types");
    let back: T = wire::decode(&bytes).expect("a vector decodes");
    assert_eq!(&back, value, "{type_name} does not survive postcard");
    let mut reader = Reader {
        registry,
        bytes: &bytes,
        seen,
    };
    let json = reader.read(&Format::TypeName(type_name.to_owned()));
    assert!(
        reader.bytes.is_empty(),
        "the schema leaves bytes of {value:?}"
    );
    let serde_json = serde_json::to_value(value).expect("the wire types serialize to JSON");
    assert!(
        same_value(&json, &serde_json),
        "the schema reads {value:?} as {json} but serde_json writes {serde_json}"
    );
    let mut hex = String::new();
    for b in &bytes {
        write!(hex, "{b:02x}").expect("writing to a String");
    }
    Vector {
        type_name: type_name.to_owned(),
        value: json,
        hex,
    }
}

/// One entry of golden.json.
#[derive(Serialize)]
pub(crate) struct Vector {
    /// The registry's name of the type.
    #[serde(rename = "type")]
    type_name: String,
    /// The value, as the schema reads it.
    value: Json,
    /// Its postcard bytes, lowercase hex.
    hex: String,
}

/// Every enum variant the registry holds, as (enum, variant).
pub(crate) fn enum_variants(registry: &Registry) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (name, container) in registry {
        if let ContainerFormat::Enum(variants) = container {
            out.extend(variants.values().map(|v| (name.clone(), v.name.clone())));
        }
    }
    out
}
