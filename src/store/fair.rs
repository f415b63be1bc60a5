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
        let participant = participant_of(&item);
        match self.waiting.get_mut(participant) {
            Some(queue) => queue.push_back(item),
            None => {
                let participant = participant.to_owned();
                self.turns.push_back(participant.clone());
                self.waiting.insert(participant, VecDeque::from([item]));
            }
        }
        self.len += 1;
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
        let mut queue = FairQueue::default();
        for n in 0..1000 {
            queue.push(("flood", n), |item| item.0);
        }
        queue.push(("quiet", 0), |item| item.0);
        let group = take(&mut queue, 4);
        assert_eq!(
            group,
            [("flood", 0), ("quiet", 0), ("flood", 1), ("flood", 2)]
        );
        assert!(!queue.is_empty());
    }

    #[test]
    fn a_participant_takes_at_most_its_share_of_a_group() {
        let mut queue = FairQueue::default();
        for n in 0..100 {
            queue.push(("flood", n), |item| item.0);
        }
        queue.push(("quiet", 0), |item| item.0);
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
