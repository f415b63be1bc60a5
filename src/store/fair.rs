//! Whose submissions the next group commit takes: every participant in turn, not the order
//! they arrived in (issue 15, item 5).
//!
//! The writer used to take its queue first come, first served: a partner with thousands of
//! envelopes in flight filled every group, and a quiet partner's single Submit waited behind
//! all of them (p50 6 ms became 526 ms). Now the writer sorts what is waiting by sender and
//! fills each group by taking one envelope from each sender in turn. A participant's own
//! envelopes keep their order (a declaration and then its amendment on one stream must be
//! decided in that order); between participants there is no order to keep, since each
//! learns of the other's envelopes only through committed receipts and outcomes.
//!
//! A participant with only a few envelopes waiting (a partner with one Submit open) is
//! *light*: it gets a group of its own before anyone else's, and a group in progress ends
//! early when one waits, so that its Submit waits for one envelope and two commits, not for
//! a flood's share of a group ([`FairQueue::take_light`]).
//!
//! Pure: no I/O, no clock; the writer feeds it and drains it.

use std::collections::{HashMap, VecDeque};

/// Waiting items by participant, handed out round-robin.
pub(super) struct FairQueue<T> {
    waiting: HashMap<String, VecDeque<T>>,
    /// Participants with something waiting, in the order their turn comes.
    turns: VecDeque<String>,
    len: usize,
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        Self {
            waiting: HashMap::new(),
            turns: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> FairQueue<T> {
    /// Puts `item` behind its participant's earlier ones; `participant_of` names whose it
    /// is.
    pub fn push(&mut self, item: T, participant_of: impl Fn(&T) -> &str) {
        self.line_of(participant_of(&item)).push_back(item);
        self.len += 1;
    }

    /// `participant`'s line, new and with its turn at the back if it had nothing waiting.
    fn line_of(&mut self, participant: &str) -> &mut VecDeque<T> {
        if !self.waiting.contains_key(participant) {
            self.turns.push_back(participant.to_owned());
        }
        self.waiting.entry(participant.to_owned()).or_default()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves up to `max` items into `out`, one per participant in turn, each participant's
    /// in its own order, and at most `share` of any one participant's. A participant left
    /// with items waiting goes to the back of the line, so the next group starts with
    /// whoever this one ended before.
    ///
    /// The share is what keeps a flood from slowing a quiet partner: a Submit arriving while
    /// a group commits waits for that group to finish and then for its own, so each group
    /// must be short whoever fills it, not only once the quiet partner is already waiting.
    pub fn take(&mut self, max: usize, share: usize, out: &mut Vec<T>) {
        let rounds = share.min(max);
        let mut taken = 0;
        for _ in 0..rounds {
            // One round: one item from each participant waiting at its start.
            for _ in 0..self.turns.len() {
                if taken == max {
                    return;
                }
                let Some(participant) = self.turns.pop_front() else {
                    return;
                };
                let Some(queue) = self.waiting.get_mut(&participant) else {
                    continue;
                };
                if let Some(item) = queue.pop_front() {
                    out.push(item);
                    taken += 1;
                    self.len -= 1;
                }
                if queue.is_empty() {
                    self.waiting.remove(&participant);
                } else {
                    self.turns.push_back(participant);
                }
            }
            if self.turns.is_empty() {
                return;
            }
        }
    }

    /// Whether a light participant (at most `light` items waiting) that is not one of
    /// `serving` waits: the writer ends a group early for one (see [`Self::take_light`]).
    pub fn light_waiting(&self, light: usize, serving: &[String]) -> bool {
        self.waiting
            .iter()
            .any(|(participant, queue)| queue.len() <= light && !serving.contains(participant))
    }

    /// Like [`Self::take`], but only from light participants (at most `light` items waiting),
    /// and all of theirs up to `max`. False, and nothing taken, when none is light.
    ///
    /// Why light participants go first and alone: a partner with one Submit open waits for
    /// the group it joins to commit, and a group that also decides 64 of a flood's
    /// envelopes takes milliseconds. A group of light participants only is small, and a
    /// flood still gets every other group. Light is measured by what waits, not by history:
    /// two flooding partners never count as light, so they never cut each other's groups
    /// into single envelopes.
    pub fn take_light(&mut self, light: usize, max: usize, out: &mut Vec<T>) -> bool {
        let before = out.len();
        let mut others = VecDeque::with_capacity(self.turns.len());
        while let Some(participant) = self.turns.pop_front() {
            let Some(queue) = self.waiting.get_mut(&participant) else {
                continue;
            };
            let room = max - (out.len() - before);
            if queue.len() > light || room == 0 {
                others.push_back(participant);
                continue;
            }
            let taken = queue.len().min(room);
            out.extend(queue.drain(..taken));
            self.len -= taken;
            if queue.is_empty() {
                self.waiting.remove(&participant);
            } else {
                others.push_back(participant);
            }
        }
        self.turns = others;
        out.len() > before
    }

    /// Puts back what a group took but did not decide (it ended early), ahead of each
    /// participant's later items so that its order holds; their turns come after those of
    /// the participants already waiting.
    pub fn put_back(
        &mut self,
        items: impl DoubleEndedIterator<Item = T>,
        participant_of: impl Fn(&T) -> &str,
    ) {
        for item in items.rev() {
            self.line_of(participant_of(&item)).push_front(item);
            self.len += 1;
        }
    }

    /// Moves everything into `out` (when the store refuses writes, every waiting caller is
    /// answered at once).
    pub fn drain_all(&mut self, out: &mut Vec<T>) {
        self.take(self.len, self.len, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(queue: &mut FairQueue<(&'static str, u32)>, max: usize) -> Vec<(&'static str, u32)> {
        let mut out = Vec::new();
        queue.take(max, max, &mut out);
        out
    }

    #[test]
    fn a_flood_does_not_push_a_quiet_participant_out_of_the_next_group() {
        let mut queue = flood_then(&[("quiet", 0)]);
        let group = take(&mut queue, 4);
        assert_eq!(
            group,
            [("flood", 0), ("quiet", 0), ("flood", 1), ("flood", 2)]
        );
        assert!(!queue.is_empty());
    }

    /// 100 of "flood"'s waiting, then `others` in their order.
    fn flood_then(others: &[(&'static str, u32)]) -> FairQueue<(&'static str, u32)> {
        let mut queue = FairQueue::default();
        for n in 0..100 {
            queue.push(("flood", n), |item| item.0);
        }
        for item in others {
            queue.push(*item, |item| item.0);
        }
        queue
    }

    #[test]
    fn a_participant_takes_at_most_its_share_of_a_group() {
        let mut queue = flood_then(&[("quiet", 0)]);
        let mut group = Vec::new();
        queue.take(50, 4, &mut group);
        assert_eq!(
            group.len(),
            5,
            "four of the flood's and the quiet one: {group:?}"
        );
        assert_eq!(group.iter().filter(|item| item.0 == "quiet").count(), 1);
        // Alone, the flood takes its share again, in its own order.
        let mut group = Vec::new();
        queue.take(50, 4, &mut group);
        assert_eq!(
            group,
            [("flood", 4), ("flood", 5), ("flood", 6), ("flood", 7)]
        );
    }

    #[test]
    fn light_participants_are_taken_alone_and_all_of_theirs() {
        let mut queue = flood_then(&[("quiet", 0), ("quiet", 1), ("other", 0)]);
        assert!(queue.light_waiting(4, &[]));
        assert!(queue.light_waiting(4, &["quiet".to_owned()]));
        assert!(!queue.light_waiting(4, &["quiet".to_owned(), "other".to_owned()]));
        let mut group = Vec::new();
        assert!(queue.take_light(4, 512, &mut group));
        assert_eq!(group, [("quiet", 0), ("quiet", 1), ("other", 0)]);
        // Only the flood is left, and it is not light.
        assert!(!queue.light_waiting(4, &[]));
        let mut group = Vec::new();
        assert!(!queue.take_light(4, 512, &mut group));
        assert!(group.is_empty());
        queue.take(512, 2, &mut group);
        assert_eq!(group, [("flood", 0), ("flood", 1)]);
    }

    #[test]
    fn a_light_take_stops_at_the_group_limit_and_keeps_the_rest_in_order() {
        let mut queue = FairQueue::default();
        for n in 0..3 {
            queue.push(("a", n), |item| item.0);
        }
        queue.push(("b", 0), |item| item.0);
        let mut group = Vec::new();
        assert!(queue.take_light(4, 2, &mut group));
        assert_eq!(group, [("a", 0), ("a", 1)]);
        let mut rest = Vec::new();
        queue.drain_all(&mut rest);
        assert_eq!(rest, [("a", 2), ("b", 0)]);
    }

    #[test]
    fn what_a_group_put_back_comes_first_for_its_participant() {
        let mut queue = FairQueue::default();
        queue.push(("flood", 10), |item| item.0);
        queue.push(("quiet", 0), |item| item.0);
        queue.put_back(vec![("flood", 8), ("flood", 9)].into_iter(), |item| item.0);
        queue.put_back(vec![("gone", 0)].into_iter(), |item| item.0);
        let mut all = Vec::new();
        queue.drain_all(&mut all);
        assert_eq!(
            all,
            [
                ("flood", 8),
                ("quiet", 0),
                ("gone", 0),
                ("flood", 9),
                ("flood", 10)
            ]
        );
    }

    #[test]
    fn each_participant_keeps_its_order_and_turns_rotate_across_groups() {
        let mut queue = FairQueue::default();
        for n in 0..3 {
            queue.push(("a", n), |item| item.0);
            queue.push(("b", n), |item| item.0);
        }
        queue.push(("c", 0), |item| item.0);
        assert_eq!(take(&mut queue, 2), [("a", 0), ("b", 0)]);
        // c's turn comes before a's second.
        assert_eq!(take(&mut queue, 3), [("c", 0), ("a", 1), ("b", 1)]);
        let mut rest = Vec::new();
        queue.drain_all(&mut rest);
        assert_eq!(rest, [("a", 2), ("b", 2)]);
        assert!(queue.is_empty());
        assert!(queue.turns.is_empty() && queue.waiting.is_empty());
    }
}
