//! Orders linked to each other: brackets (an entry whose stop and take-profit the engine arms
//! as the entry fills) and OCO pairs (two orders, held or working, where the first to fill,
//! trigger or end cancels the other). Driven by the core from the strategies' actions, the
//! held orders' triggers (`conditional.rs`) and the exec reports, so the same code runs live
//! and in backtests.

use crate::order::{BracketExit, BracketExits, ClientOrderId, OrderIntent, OrderType, TimeInForce};
use crate::types::{InstrumentId, Qty};

use super::Core;

/// The links the core keeps (few at a time: scanned linearly).
#[derive(Debug, Default)]
pub(super) struct Links {
    oco: Vec<Oco>,
    brackets: Vec<Bracket>,
}

impl Links {
    /// True when nothing is linked (the common case: reports skip the lookups).
    pub(super) fn is_empty(&self) -> bool {
        self.oco.is_empty() && self.brackets.is_empty()
    }
}

/// Two orders of one strategy, each cancelling the other.
#[derive(Clone, Copy, Debug)]
struct Oco {
    strategy: usize,
    legs: [(ClientOrderId, InstrumentId); 2],
}

/// An entry order and the exits it arms.
#[derive(Clone, Copy, Debug)]
struct Bracket {
    strategy: usize,
    entry: ClientOrderId,
    /// The entry order (its instrument and side: the exits are on the other side).
    intent: OrderIntent,
    exits: BracketExits,
    /// The exits are held (from the entry's first fill).
    armed: bool,
}

impl Bracket {
    fn exits(&self) -> impl Iterator<Item = BracketExit> {
        [self.exits.stop, self.exits.take_profit]
            .into_iter()
            .flatten()
    }

    /// The reduce-only order an exit places, for `qty` (the entry's filled quantity).
    fn exit_intent(&self, exit: &BracketExit, qty: Qty) -> OrderIntent {
        OrderIntent {
            side: self.intent.side.opposite(),
            order_type: if exit.price.is_some() {
                OrderType::Limit
            } else {
                OrderType::Market
            },
            price: exit.price,
            qty,
            tif: TimeInForce::Gtc,
            reduce_only: true,
            post_only: false,
            ..self.intent
        }
    }
}

impl Core {
    /// `bracket(..)`: places the entry; if the risk gate let it through, its exits are armed
    /// by its fills ([`Core::on_linked_report`]).
    pub(super) fn open_bracket(
        &mut self,
        i: usize,
        entry: ClientOrderId,
        intent: OrderIntent,
        exits: BracketExits,
    ) {
        self.place(i, entry, intent);
        if self.tracker.get(&entry).is_some() {
            self.links.brackets.push(Bracket {
                strategy: i,
                entry,
                intent,
                exits,
                armed: false,
            });
        }
    }

    /// `oco(a, b)`: links two live orders of strategy `i` (held, or working without a cancel
    /// in flight); anything else is refused with a risk event.
    pub(super) fn link_oco(&mut self, i: usize, a: ClientOrderId, b: ClientOrderId) {
        match (self.live_leg(i, a), self.live_leg(i, b)) {
            (Some(ia), Some(ib)) if a != b => self.push_oco(i, [(a, ia), (b, ib)]),
            _ => {
                let name = self.strategies[i].name.clone();
                let msg = format!(
                    "oco({a}, {b}) ignored: both must be distinct orders of this strategy that are still held or working"
                );
                tracing::warn!(strategy = %name, "{msg}");
                self.risk_event(Some(name), None, "invalid_order", msg);
            }
        }
    }

    /// Links two legs (unless they already are) and stores the held ones with their partner.
    pub(super) fn push_oco(&mut self, i: usize, legs: [(ClientOrderId, InstrumentId); 2]) {
        let (a, b) = (legs[0].0, legs[1].0);
        if self.oco_partner(a) == Some(b) {
            return;
        }
        self.links.oco.push(Oco { strategy: i, legs });
        self.store_held(a);
        self.store_held(b);
    }

    /// The order `id` is linked with, if any.
    pub(super) fn oco_partner(&self, id: ClientOrderId) -> Option<ClientOrderId> {
        self.links.oco.iter().find_map(|o| match o.legs {
            [(a, _), (b, _)] if a == id => Some(b),
            [(a, _), (b, _)] if b == id => Some(a),
            _ => None,
        })
    }

    /// The instrument of `id` if it is a held or working order of strategy `i`.
    pub(super) fn live_leg(&self, i: usize, id: ClientOrderId) -> Option<InstrumentId> {
        if let Some(inst) = self.held_instrument(i, id) {
            return Some(inst);
        }
        let o = self.tracker.get(&id)?;
        let live = o.request.intent.strategy as usize == i
            && !o.status.is_terminal()
            && !o.cancel_sent
            && o.filled.is_zero();
        live.then_some(o.request.intent.instrument)
    }

    /// An order fired, filled (even partly) or ended: its OCO partner is cancelled (dropped
    /// if held), and if it is a bracket's exit, what is left of the entry is cancelled.
    pub(super) fn on_leg_done(&mut self, id: ClientOrderId) {
        if self.links.is_empty() {
            return;
        }
        while let Some(k) = self
            .links
            .oco
            .iter()
            .position(|o| o.legs.iter().any(|l| l.0 == id))
        {
            let o = self.links.oco.swap_remove(k);
            let other = if o.legs[0].0 == id {
                o.legs[1].0
            } else {
                o.legs[0].0
            };
            self.cancel_leg(o.strategy, other);
        }
        if let Some(k) = self
            .links
            .brackets
            .iter()
            .position(|b| b.armed && b.exits().any(|e| e.id == id))
        {
            let b = self.links.brackets.swap_remove(k);
            // The position is being closed: the entry must not grow it any more.
            self.cancel_leg(b.strategy, b.entry);
        }
    }

    /// Cancels one order of strategy `i`: drops it if held (and follows its own links),
    /// else sends a cancel if it is working.
    fn cancel_leg(&mut self, i: usize, id: ClientOrderId) {
        if self.drop_conditional(i, id) {
            self.on_leg_done(id);
            return;
        }
        let working = self
            .tracker
            .get(&id)
            .is_some_and(|o| !o.status.is_terminal() && !o.cancel_sent);
        if working {
            self.send_cancel(id);
        }
    }

    /// After an exec report changed order `id`: a fill or final state of an OCO leg cancels
    /// its partner; a fill of a bracket's entry arms its exits for the filled quantity (or
    /// resizes them while they are held); a final entry closes the bracket (unfilled: its
    /// exits are never armed).
    pub(super) fn on_linked_report(&mut self, id: ClientOrderId) {
        if self.links.is_empty() {
            return;
        }
        let Some(o) = self.tracker.get(&id) else {
            return;
        };
        let (filled, terminal) = (o.filled, o.status.is_terminal());
        if filled > Qty::ZERO || terminal {
            self.on_leg_done(id);
        }
        let Some(k) = self.links.brackets.iter().position(|b| b.entry == id) else {
            return;
        };
        let b = self.links.brackets[k];
        if filled > Qty::ZERO {
            if b.armed {
                for e in b.exits() {
                    self.resize_held(b.strategy, e.id, filled);
                }
            } else {
                self.links.brackets[k].armed = true;
                for e in b.exits() {
                    let intent = b.exit_intent(&e, filled);
                    self.hold_conditional(b.strategy, e.id, e.trigger, intent);
                }
                if let (Some(s), Some(t)) = (b.exits.stop, b.exits.take_profit) {
                    let inst = b.intent.instrument;
                    self.push_oco(b.strategy, [(s.id, inst), (t.id, inst)]);
                }
            }
        }
        if terminal {
            if let Some(k) = self.links.brackets.iter().position(|b| b.entry == id) {
                self.links.brackets.swap_remove(k);
            }
        }
    }

    /// `cancel(id)` of a bracket exit not armed yet: that exit will not be armed. True if
    /// `id` was one.
    pub(super) fn cancel_bracket_exit(&mut self, i: usize, id: ClientOrderId) -> bool {
        for b in &mut self.links.brackets {
            if b.strategy != i || b.armed {
                continue;
            }
            if b.exits.stop.is_some_and(|e| e.id == id) {
                b.exits.stop = None;
                return true;
            }
            if b.exits.take_profit.is_some_and(|e| e.id == id) {
                b.exits.take_profit = None;
                return true;
            }
        }
        false
    }

    /// At a stop that cancels the working orders: only links between two held orders stay
    /// (brackets end: their entries are being cancelled).
    pub(super) fn keep_held_links_only(&mut self) {
        self.links.brackets.clear();
        let mut oco = std::mem::take(&mut self.links.oco);
        oco.retain(|o| {
            o.legs
                .iter()
                .all(|l| self.held_instrument(o.strategy, l.0).is_some())
        });
        self.links.oco = oco;
    }

    /// Forgets the links of `strategy` (all if `None`) on `instrument` (all if `None`), as
    /// `cancel_all`, the kill switch and a halt do: their orders are dropped or cancelled
    /// there, and a late fill of an entry then arms nothing.
    pub(super) fn drop_links(&mut self, strategy: Option<u16>, instrument: Option<InstrumentId>) {
        let hit = |s: usize, inst: InstrumentId| {
            strategy.is_none_or(|x| x as usize == s) && instrument.is_none_or(|x| x == inst)
        };
        self.links
            .oco
            .retain(|o| !o.legs.iter().any(|l| hit(o.strategy, l.1)));
        self.links
            .brackets
            .retain(|b| !hit(b.strategy, b.intent.instrument));
    }
}
