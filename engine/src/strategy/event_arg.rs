//! A callback's event argument reused from call to call: the event (a registered Rust type
//! such as `TradeView`) lives in one shared cell that each call overwrites in place and
//! passes to the script as a shared `Dynamic` (a reference-count increment), instead of
//! boxing a new `Dynamic` per call. A script that keeps the event (`this.last = t`) holds a
//! reference to the cell; the next call then starts a fresh cell, so what it kept never
//! changes under it.

use std::cell::RefCell;
use std::rc::Rc;

use rhai::{Dynamic, Variant};

/// The reusable argument of one callback.
#[derive(Debug, Default)]
pub(super) struct EventArg {
    cell: Option<Rc<RefCell<Dynamic>>>,
}

impl EventArg {
    /// `v` as the callback's argument, written into the cell when nothing else holds it.
    pub(super) fn arg<T: Variant + Clone>(&mut self, v: T) -> Dynamic {
        if let Some(c) = &self.cell {
            if Rc::strong_count(c) == 1 && c.borrow().is::<T>() {
                if let Some(mut slot) = c.borrow_mut().write_lock::<T>() {
                    *slot = v;
                }
                return Dynamic::from(c.clone());
            }
        }
        let c = Rc::new(RefCell::new(Dynamic::from(v)));
        self.cell = Some(c.clone());
        Dynamic::from(c)
    }
}
