//! What leaves a view. A view does not start threads, open file dialogs, open folders or
//! switch views itself: it queues a [`Command`] in its [`Outbox`], its `ui` returns them as
//! [`Commands`] (`#[must_use]`), and the app runs them after the view's frame
//! ([`Commands::run`]). A dialog's answer goes back to the view that asked, through the
//! closure of [`Command::Pick`].

use super::dialog::{FileDialog, Picked};
use crate::config::View;
use crate::diffusion::ScheduleSpec;
use crate::jobs::Launch;
use std::path::PathBuf;

/// How a [`Command::Pick`] asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickMode {
    /// One existing file.
    File,
    /// One existing folder.
    Folder,
    /// A path to save to.
    Save,
    /// A path to save to, telling a cancel from a dialog that could not open.
    SaveOrUnavailable,
    /// A folder, telling a cancel from a dialog that could not open.
    FolderOrUnavailable,
}

/// The answer to a pick, handed back to the view that asked.
pub type Answer<V> = Box<dyn FnOnce(&mut V, Picked)>;

/// What a view does with an error text (a folder that would not open).
pub type OnError<V> = Box<dyn FnOnce(&mut V, String)>;

/// Something a view asks of the app.
pub enum Command<V> {
    /// Start a background job the view has built (the view keeps the job's handle, which
    /// cancels and joins it when dropped).
    Start(Launch),
    /// Show a file dialog; its answer goes to `then`.
    Pick {
        /// The dialog (title, filters, proposed name).
        dialog: FileDialog,
        /// What it asks for.
        mode: PickMode,
        /// What the view does with the answer.
        then: Answer<V>,
    },
    /// Show a folder in the system's file manager; a failure goes to `failed`.
    OpenFolder {
        /// The folder.
        folder: PathBuf,
        /// What the view does with the error text.
        failed: OnError<V>,
    },
    /// Something only the app can do: another view takes part.
    App(AppCommand),
}

/// The commands that involve more than one view, run by the app itself.
#[derive(Clone, Debug, PartialEq)]
pub enum AppCommand {
    /// Show this view.
    Switch(View),
    /// Put these schedules in the forward explorer and show it.
    SchedulesToForward(Vec<ScheduleSpec>),
    /// Put these schedules in the schedule lab and show it.
    SchedulesToLab(Vec<ScheduleSpec>),
    /// Tell the user (status bar): a job that could not start, a folder that would not open.
    Report(String),
}

/// A view's queue of commands for this frame.
pub struct Outbox<V>(Vec<Command<V>>);

impl<V> Default for Outbox<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> Outbox<V> {
    /// Queues a command.
    pub fn push(&mut self, c: Command<V>) {
        self.0.push(c);
    }

    /// Queues the start of a job.
    pub fn start(&mut self, launch: Launch) {
        self.push(Command::Start(launch));
    }

    /// Queues a dialog; `then` gets a picked path only (a cancel does nothing).
    pub fn pick(
        &mut self,
        dialog: FileDialog,
        mode: PickMode,
        then: impl FnOnce(&mut V, PathBuf) + 'static,
    ) {
        self.push(Command::Pick {
            dialog,
            mode,
            then: Box::new(move |v, picked| {
                if let Picked::Path(p) = picked {
                    then(v, p);
                }
            }),
        });
    }

    /// Queues a dialog whose every answer (cancel, unavailable) goes to `then`.
    pub fn pick_answer(
        &mut self,
        dialog: FileDialog,
        mode: PickMode,
        then: impl FnOnce(&mut V, Picked) + 'static,
    ) {
        self.push(Command::Pick {
            dialog,
            mode,
            then: Box::new(then),
        });
    }

    /// Queues opening `folder` in the file manager; an error goes to `failed`.
    pub fn open_folder(&mut self, folder: PathBuf, failed: impl FnOnce(&mut V, String) + 'static) {
        self.push(Command::OpenFolder {
            folder,
            failed: Box::new(failed),
        });
    }

    /// Queues a command for the app.
    pub fn app(&mut self, c: AppCommand) {
        self.push(Command::App(c));
    }

    /// Everything queued so far (the queue is left empty).
    pub fn take(&mut self) -> Commands<V> {
        Commands(std::mem::take(&mut self.0))
    }
}

/// A view that queues commands.
pub trait HasOutbox: Sized {
    /// The view's queue.
    fn outbox(&mut self) -> &mut Outbox<Self>;
}

/// The commands one frame of a view produced. They do nothing until run.
#[must_use = "a view's commands do nothing until the app runs them (Commands::run)"]
pub struct Commands<V>(Vec<Command<V>>);

impl<V> Commands<V> {
    /// No commands.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The commands, for inspection (tests).
    pub fn as_slice(&self) -> &[Command<V>] {
        &self.0
    }
}

impl<V: HasOutbox> Commands<V> {
    /// Runs the commands on the UI thread: starts the jobs, shows the dialogs (answers go back
    /// to `view`, and what the answers queue runs too), opens folders. Returns what needs the
    /// app ([`AppCommand`]): switching views, moving schedules between views, and reports.
    /// The app runs every view's commands this way; UI tests do the same to drive one view.
    pub fn run(self, view: &mut V) -> Vec<AppCommand> {
        let mut app = Vec::new();
        let mut queue = self.0;
        // Answers may queue more (a picked path starts an export job); a few rounds suffice.
        for _ in 0..8 {
            if queue.is_empty() {
                break;
            }
            for c in queue.drain(..) {
                match c {
                    Command::Start(launch) => {
                        let name = launch.name().to_owned();
                        if let Err(e) = launch.start() {
                            app.push(AppCommand::Report(format!(
                                "could not start the {name} thread: {e}"
                            )));
                        }
                    }
                    Command::Pick { dialog, mode, then } => {
                        let picked = ask(dialog, mode);
                        then(view, picked);
                    }
                    Command::OpenFolder { folder, failed } => {
                        if let Err(e) = super::dialog::open_folder(&folder) {
                            failed(view, e);
                        }
                    }
                    Command::App(c) => app.push(c),
                }
            }
            queue = view.outbox().take().0;
        }
        app
    }
}

fn ask(dialog: FileDialog, mode: PickMode) -> Picked {
    let some = |p: Option<PathBuf>| p.map_or(Picked::Cancelled, Picked::Path);
    match mode {
        PickMode::File => some(dialog.pick_file()),
        PickMode::Folder => some(dialog.pick_folder()),
        PickMode::Save => some(dialog.save_file()),
        PickMode::SaveOrUnavailable => dialog.save_file_or_unavailable(),
        PickMode::FolderOrUnavailable => dialog.pick_folder_or_unavailable(),
    }
}
