//! The MIT-SHM segment: a memfd that the X server writes images into and this side maps.
//!
//! The one place in screen capture with `unsafe`: mapping the memfd and viewing it as bytes.
//! The server writes into the segment only while it handles a `ShmGetImage` that the owning
//! [`Session`](super::x11::Session) sent and waits for, on the same thread that reads the bytes
//! afterwards, so the bytes never change while they are borrowed.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use rustix::mm::{MapFlags, ProtFlags};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::shm;
use x11rb::rust_connection::RustConnection;

/// A memfd of `len` bytes attached to the server as segment `id` and mapped read-only here.
pub(super) struct Segment {
    id: u32,
    len: usize,
    map: NonNull<u8>,
    _file: File,
}

// SAFETY: the mapping is owned by the segment alone (no other pointer to it exists here), so
// moving the segment to another thread moves all access with it.
unsafe impl Send for Segment {}

impl Segment {
    /// Creates a segment of `len` bytes (more than 0) and attaches it to the server.
    pub(super) fn attach(conn: &RustConnection, len: usize) -> Result<Self, String> {
        let fd = rustix::fs::memfd_create(c"livestage-screen", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| format!("memfd_create: {e}"))?;
        let file = File::from(fd);
        file.set_len(len as u64)
            .map_err(|e| format!("ftruncate: {e}"))?;
        // SAFETY: a fresh shared mapping of a file we own, at an address the kernel picks; it
        // is unmapped in `Drop` with the same length.
        let map = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                &file,
                0,
            )
        }
        .map_err(|e| format!("mmap: {e}"))?;
        let map = NonNull::new(map.cast::<u8>()).ok_or("mmap returned a null pointer")?;
        let mut segment = Self {
            id: 0,
            len,
            map,
            _file: file,
        };
        let for_server = segment._file.try_clone().map_err(|e| e.to_string())?;
        segment.id = conn.generate_id().map_err(|e| e.to_string())?;
        shm::attach_fd(conn, segment.id, OwnedFd::from(for_server), false)
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| e.to_string())?;
        Ok(segment)
    }

    /// The segment's id for `ShmGetImage`.
    pub(super) fn id(&self) -> u32 {
        self.id
    }

    /// The segment's size in bytes.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The first `len` bytes, as the server last wrote them.
    pub(super) fn bytes(&self, len: usize) -> &[u8] {
        assert!(
            len <= self.len,
            "read {len} bytes of a {}-byte segment",
            self.len
        );
        // SAFETY: the mapping is `self.len` readable bytes for as long as `self` lives, and the
        // server writes into it only during a request the borrowing thread waits for (see the
        // module docs).
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), len) }
    }

    /// Detaches the segment from the server; the mapping goes when `self` is dropped.
    pub(super) fn detach(self, conn: &impl RequestConnection) {
        // A failed detach only leaks the server's mapping until the connection closes.
        drop(shm::detach(conn, self.id));
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `map` and `len` are those that `mmap` returned and took; no slice of the
        // mapping outlives `self`.
        if let Err(e) = unsafe { rustix::mm::munmap(self.map.as_ptr().cast(), self.len) } {
            tracing::warn!("munmap of the screen capture segment failed: {e}");
        }
    }
}
