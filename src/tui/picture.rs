//! The selected stream's thumbnail in the terminal, drawn with whatever
//! graphics the terminal (or the SSH client in front of it) supports:
//! kitty, sixel or iTerm2 images, and Unicode half-blocks everywhere else.
//!
//! The engine keeps the JPEG up to date; the console reads it from the file
//! the snapshot names (same user, same machine) whenever the snapshot says
//! it changed, decodes it away from the event loop, and encodes it for the
//! terminal once per picture and pane size.

use crate::engine::{StreamSnapshot, UnixMillis};
use image::DynamicImage;
use ratatui::Frame;
use ratatui::layout::{Rect, Size};
use ratatui_image::picker::cap_parser::QueryStdioOptions;
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::Protocol;
use ratatui_image::{Image, Resize};
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

/// How long the terminal has to say which graphics it draws: terminals
/// answer at once, and an SSH link adds its round trip; one that does not
/// answer gets half-blocks, and the dashboard is not held up for long.
const ANSWER_WITHIN: Duration = Duration::from_millis(500);

/// A thumbnail to read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PictureRequest {
    /// The stream it shows.
    pub stream: String,
    /// The JPEG file.
    pub path: PathBuf,
    /// When the engine saw it written.
    pub updated_at: UnixMillis,
}

/// A decoded thumbnail.
#[derive(Clone)]
struct Loaded {
    stream: String,
    updated_at: UnixMillis,
    image: DynamicImage,
}

/// The picture encoded for the terminal, for one pane size.
struct Encoded {
    stream: String,
    updated_at: UnixMillis,
    size: Size,
    protocol: Protocol,
}

/// What the console knows about pictures: how to draw them, whether the
/// operator wants them (`v`), and the latest one.
pub struct Picture {
    picker: Picker,
    shown: bool,
    loaded: Option<Loaded>,
    /// The request being read, so it is not asked for twice.
    loading: Option<PictureRequest>,
    encoded: RefCell<Option<Encoded>>,
}

impl Clone for Picture {
    fn clone(&self) -> Self {
        Picture {
            picker: self.picker.clone(),
            shown: self.shown,
            loaded: self.loaded.clone(),
            loading: self.loading.clone(),
            encoded: RefCell::new(None),
        }
    }
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Picture")
            .field("protocol", &self.picker.protocol_type())
            .field("shown", &self.shown)
            .field(
                "loaded",
                &self.loaded.as_ref().map(|l| (&l.stream, l.updated_at)),
            )
            .finish()
    }
}

impl Default for Picture {
    fn default() -> Self {
        Picture::new(Picker::halfblocks())
    }
}

impl Picture {
    /// Pictures drawn the way `picker` found the terminal can draw them.
    pub fn new(picker: Picker) -> Picture {
        Picture {
            picker,
            shown: true,
            loaded: None,
            loading: None,
            encoded: RefCell::new(None),
        }
    }

    /// Asks the terminal which graphics it supports (kitty, sixel, iTerm2)
    /// and its cell size; falls back to half-blocks when it does not say.
    /// Call after entering the alternate screen and before reading keys.
    ///
    /// Inside tmux the question is not asked: tmux would pass it on to the
    /// terminal it is attached to (none, when detached), and the reader of
    /// the answer would keep the operator's keys. Pictures there use
    /// half-blocks. `ONAIR_PICTURE=halfblocks` skips the question anywhere
    /// (for a terminal that does not answer); `ONAIR_PICTURE=off` also
    /// starts with the picture hidden.
    pub fn detect() -> Picture {
        let choice = std::env::var("ONAIR_PICTURE").unwrap_or_default();
        let ask = !matches!(choice.as_str(), "halfblocks" | "off") && !inside_tmux();
        let picker = if ask {
            let options = QueryStdioOptions {
                timeout: ANSWER_WITHIN,
                ..QueryStdioOptions::default()
            };
            Picker::from_query_stdio_with_options(options).unwrap_or_else(|_| Picker::halfblocks())
        } else {
            Picker::halfblocks()
        };
        let mut picture = Picture::new(picker);
        picture.shown = choice != "off";
        picture
    }

    /// How pictures are drawn: `halfblocks`, `sixel`, `kitty` or `iterm2`.
    pub fn protocol(&self) -> &'static str {
        match self.picker.protocol_type() {
            ProtocolType::Halfblocks => "halfblocks",
            ProtocolType::Sixel => "sixel",
            ProtocolType::Kitty => "kitty",
            ProtocolType::Iterm2 => "iterm2",
        }
    }

    /// Whether the operator wants the picture (the `v` key).
    pub fn shown(&self) -> bool {
        self.shown
    }

    /// Hides or shows the picture.
    pub fn toggle(&mut self) {
        self.shown = !self.shown;
    }

    /// The file to read now for `stream`, if its thumbnail is newer than
    /// the one held and none is being read.
    pub fn wanted(&self, stream: Option<&StreamSnapshot>) -> Option<PictureRequest> {
        if !self.shown {
            return None;
        }
        let stream = stream?;
        let thumbnail = stream.thumbnail.as_ref()?;
        let request = PictureRequest {
            stream: stream.name.clone(),
            path: PathBuf::from(&thumbnail.path),
            updated_at: thumbnail.updated_at,
        };
        let held = self
            .loaded
            .as_ref()
            .is_some_and(|l| l.stream == request.stream && l.updated_at >= request.updated_at);
        (!held && self.loading.as_ref() != Some(&request)).then_some(request)
    }

    /// Notes that `request` is being read.
    pub fn loading(&mut self, request: PictureRequest) {
        self.loading = Some(request);
    }

    /// Takes in a decoded picture (or forgets the request when it could
    /// not be read: the next snapshot asks again).
    pub fn loaded(&mut self, request: PictureRequest, image: Option<DynamicImage>) {
        if self.loading.as_ref() == Some(&request) {
            self.loading = None;
        }
        if let Some(image) = image {
            self.set(&request.stream, request.updated_at, image);
        }
    }

    /// Holds `image` as the picture of `stream` at `updated_at`.
    pub fn set(&mut self, stream: &str, updated_at: UnixMillis, image: DynamicImage) {
        self.loaded = Some(Loaded {
            stream: stream.to_string(),
            updated_at,
            image,
        });
    }

    /// When the held picture of `stream` was written, if one is held.
    pub fn held_at(&self, stream: &str) -> Option<UnixMillis> {
        self.loaded
            .as_ref()
            .filter(|l| l.stream == stream)
            .map(|l| l.updated_at)
    }

    /// Draws the held picture of `stream` as large as fits `area` (keeping
    /// its proportions); false if there is none.
    pub fn draw(&self, frame: &mut Frame, area: Rect, stream: &str) -> bool {
        let Some(loaded) = self.loaded.as_ref().filter(|l| l.stream == stream) else {
            return false;
        };
        if area.width == 0 || area.height == 0 {
            return false;
        }
        let size = Size::new(area.width, area.height);
        let mut encoded = self.encoded.borrow_mut();
        let fresh = encoded.as_ref().is_some_and(|e| {
            e.stream == loaded.stream && e.updated_at == loaded.updated_at && e.size == size
        });
        if !fresh {
            *encoded = self
                .picker
                .new_protocol(loaded.image.clone(), size, Resize::Scale(None))
                .ok()
                .map(|protocol| Encoded {
                    stream: loaded.stream.clone(),
                    updated_at: loaded.updated_at,
                    size,
                    protocol,
                });
        }
        match encoded.as_ref() {
            Some(e) => {
                frame.render_widget(Image::new(&e.protocol), area);
                true
            }
            None => false,
        }
    }
}

/// Whether the console runs inside tmux.
fn inside_tmux() -> bool {
    let var = |name| std::env::var(name).unwrap_or_default();
    !var("TMUX").is_empty() || var("TERM").starts_with("tmux") || var("TERM_PROGRAM") == "tmux"
}

/// Reads and decodes a thumbnail (blocking: call it off the event loop).
pub fn read(path: &std::path::Path) -> Result<DynamicImage, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    image::load_from_memory(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads thumbnails away from the event loop: [`Reader::request`] starts a
/// read when the selected stream has a newer thumbnail than the one held,
/// [`Reader::next`] hands back finished reads.
pub struct Reader {
    done_tx: tokio::sync::mpsc::UnboundedSender<(PictureRequest, Option<DynamicImage>)>,
    done_rx: tokio::sync::mpsc::UnboundedReceiver<(PictureRequest, Option<DynamicImage>)>,
}

impl Default for Reader {
    fn default() -> Self {
        let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel();
        Reader { done_tx, done_rx }
    }
}

impl Reader {
    /// Starts reading the selected stream's thumbnail if it is newer.
    pub fn request(&self, app: &mut crate::tui::app::App, snapshot: &crate::engine::Snapshot) {
        let Some(request) = app.picture().wanted(app.selected_stream(snapshot)) else {
            return;
        };
        app.picture_mut().loading(request.clone());
        let done = self.done_tx.clone();
        tokio::task::spawn_blocking(move || {
            let image = read(&request.path).ok();
            let _ = done.send((request, image));
        });
    }

    /// The next finished read.
    pub async fn next(&mut self) -> (PictureRequest, Option<DynamicImage>) {
        match self.done_rx.recv().await {
            Some(done) => done,
            // Cannot happen: this reader holds a sender.
            None => std::future::pending().await,
        }
    }
}
