//! The protobuf codec every generated service and client uses.
//!
//! tonic's stock prost codec answers an undecodable message with INTERNAL, which tells a
//! partner the gateway is broken when it is the partner's bytes that are. This codec answers
//! INVALID_ARGUMENT with the contract's `MALFORMED` reason instead, and is otherwise the
//! plain prost encoding.

use crate::core::rejection::ERROR_DOMAIN;
use prost::Message;
use std::marker::PhantomData;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

/// Prost codec whose decode errors are the contract's `MALFORMED`.
#[derive(Debug, Clone, Copy)]
pub struct WireCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for WireCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for WireCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = WireEncoder<T>;
    type Decoder = WireDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        WireEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireDecoder(PhantomData)
    }
}

/// Encoding half of [`WireCodec`].
#[derive(Debug)]
pub struct WireEncoder<T>(PhantomData<T>);

impl<T: Message> Encoder for WireEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // EncodeBuf grows on demand, so encoding cannot run out of space; map it anyway.
        item.encode(buf)
            .map_err(|e| Status::internal(format!("encoding reply: {e}")))
    }
}

/// Decoding half of [`WireCodec`].
#[derive(Debug)]
pub struct WireDecoder<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for WireDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|e| malformed_protobuf(&e))
    }
}

/// The status for bytes that are not the expected protobuf message.
pub fn malformed_protobuf(error: &prost::DecodeError) -> Status {
    Status::with_error_details(
        tonic::Code::InvalidArgument,
        format!("malformed envelope: not a valid protobuf message: {error}"),
        ErrorDetails::with_error_info("MALFORMED", ERROR_DOMAIN, std::collections::HashMap::new()),
    )
}

/// A request message as it arrived: its exact bytes and the result of decoding them.
#[derive(Debug, Clone)]
pub struct Received<M> {
    /// The bytes as received (what is stored and forwarded, never a re-encoding).
    pub raw: bytes::Bytes,
    /// The decoded message, or why the bytes are not one.
    pub message: Result<M, prost::DecodeError>,
}

/// Codec whose decoder never fails: it yields [`Received`] so that the service, not the
/// transport, answers an undecodable message, and a stream continues after it.
#[derive(Debug, Clone, Copy)]
pub struct ReceivingCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for ReceivingCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, M> Codec for ReceivingCodec<T, Received<M>>
where
    T: Message + Send + 'static,
    M: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = Received<M>;
    type Encoder = WireEncoder<T>;
    type Decoder = ReceivingDecoder<M>;

    fn encoder(&mut self) -> Self::Encoder {
        WireEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ReceivingDecoder(PhantomData)
    }
}

/// Decoding half of [`ReceivingCodec`].
#[derive(Debug)]
pub struct ReceivingDecoder<M>(PhantomData<M>);

impl<M: Message + Default> Decoder for ReceivingDecoder<M> {
    type Item = Received<M>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Received<M>>, Status> {
        use bytes::Buf;
        let raw = buf.copy_to_bytes(buf.remaining());
        let message = M::decode(raw.clone());
        Ok(Some(Received { raw, message }))
    }
}
