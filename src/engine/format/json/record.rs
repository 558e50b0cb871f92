//! Span recording for the JSON masker: a container whose closing bracket is in the chunk
//! being read is looked up in the span cache ([`spans`]) before it is read, and recorded
//! once it is masked, with its place (the field rules' path state and the target it
//! inherits) and the counts it added.
use super::{JsonMasker, Writer};
use crate::cache::spans;
use crate::fields::FieldTarget;

/// A container being recorded for [`replay`]: it opened in the chunk being read, and its
/// closing bracket is in it too.
#[derive(Debug)]
pub(super) struct Recording {
    /// Offset of the opening bracket in the chunk.
    pub(super) start: usize,
    /// Where its output starts in the caller's `out`.
    pub(super) out_start: usize,
    /// Where the counts at its opening bracket are in `count_snaps`.
    pub(super) snap: usize,
    /// The target it inherited when it opened.
    pub(super) inherit: Option<FieldTarget>,
}

impl JsonMasker {
    /// A container opens at `input[at]`: replays it from the span cache if it can
    /// (returns where reading goes on), or says where it closes if it is to be recorded.
    pub(super) fn replay_container(
        &mut self,
        input: &[u8],
        at: usize,
        w: &mut Writer,
    ) -> Result<usize, Option<usize>> {
        let Some(ctx) = self.replay_ctx.as_ref() else {
            return Err(None);
        };
        let Some(close) = self.brackets.close_of(at) else {
            return Err(None);
        };
        let end = close + 1;
        if !(spans::JSON_MIN..=spans::MAX_LEN).contains(&(end - at)) {
            return Err(None);
        }
        w.flush_to(input, at);
        let max_height = self
            .values
            .plan()
            .limits()
            .max_depth
            .saturating_sub(self.frames.len());
        let inherit = self.inherited();
        place_of(&self.cur, inherit, &mut self.place);
        let raw = &input[at..end];
        match spans::replay(
            ctx,
            &self.place,
            raw,
            max_height,
            w.out,
            &mut self.values.counts,
        ) {
            Some(height) => {
                if let Some(parent) = self.frames.last_mut() {
                    parent.height = parent.height.max(height);
                }
                self.utf8_skips.push((at, end));
                w.skip_to(end);
                self.value_done();
                Ok(end)
            }
            None => Err(Some(close)),
        }
    }

    /// The container of `rec` closed at `input[at]`: its bytes, output and counts go into
    /// the span cache.
    pub(super) fn remember_container(
        &mut self,
        rec: Recording,
        input: &[u8],
        at: usize,
        height: usize,
        len: usize,
        w: &mut Writer,
    ) {
        let Some(ctx) = self.replay_ctx else {
            return;
        };
        w.flush_to(input, at + 1);
        self.count_delta.clear();
        self.values
            .counts
            .since(&self.count_snaps[rec.snap..], &mut self.count_delta);
        self.count_snaps.truncate(rec.snap);
        place_of(&self.states[len..], rec.inherit, &mut self.place);
        spans::remember(
            ctx,
            &self.place,
            &input[rec.start..=at],
            &w.out[rec.out_start..],
            height,
            &self.count_delta,
        );
    }
}

/// A container's place for [`replay`]: the path state at it and the target it inherits.
pub(super) fn place_of(state: &[u64], inherit: Option<FieldTarget>, place: &mut Vec<u8>) {
    place.clear();
    for w in state {
        place.extend_from_slice(&w.to_le_bytes());
    }
    spans::push_target(inherit, place);
}

#[cfg(test)]
mod tests {
    use super::super::tests::{CONTACTS, OBJ};
    use super::super::*;
    use crate::cache::spans;
    use crate::error::MaskError;
    use crate::testutil::plan;
    use crate::vocab::plan::Limits;

    fn whole_and_bytewise(p: &MaskPlan, input: &str) -> (String, String, MatchCounts) {
        let mut m = JsonMasker::new(p.clone());
        let whole = crate::mask_all(&mut m, input.as_bytes()).unwrap();
        let counts = m.counts().clone();
        let mut m = JsonMasker::new(p.clone());
        let mut bytewise = Vec::new();
        for b in input.as_bytes().chunks(1) {
            m.push(b, &mut bytewise).unwrap();
        }
        m.finish(&mut bytewise).unwrap();
        assert_eq!(m.counts(), &counts);
        let s = |v: Vec<u8>| String::from_utf8(v).unwrap();
        (s(whole), s(bytewise), counts)
    }

    #[test]
    fn a_repeated_container_is_replayed_only_where_it_masks_the_same() {
        crate::clear_thread_caches();
        let p = plan(CONTACTS, "contacts", "agent");
        let input =
            format!(r#"{{"a":{{"contact":{OBJ}}},"b":{{"other":{OBJ}}},"c":{{"contact":{OBJ}}}}}"#);
        let hits = spans::hits();
        let (whole, bytewise, counts) = whole_and_bytewise(&p, &input);
        assert_eq!(whole, bytewise);
        // `c.contact` is `a.contact` again; `b.other` has another path state.
        assert_eq!(spans::hits() - hits, 1);
        let v: serde_json::Value = serde_json::from_str(&whole).unwrap();
        for k in ["a", "c"] {
            let phone = v[k]["contact"]["phone"].as_str().unwrap();
            assert!(phone.starts_with("vt_phone_k1_"), "{whole}");
        }
        assert_eq!(v["b"]["other"]["phone"], "call 1234");
        assert!(!whole.contains("98123"), "{whole}");
        assert_eq!(v["a"]["contact"]["id"], "x-0001");
        // Three notes and two field phones, whether replayed or not.
        assert_eq!(counts.total_masked(), 5);
        // The whole document again: replayed from the top, the same bytes and counts.
        let hits = spans::hits();
        let (again, _, again_counts) = whole_and_bytewise(&p, &input);
        assert_eq!(again, whole);
        assert_eq!(again_counts, counts);
        assert_eq!(spans::hits() - hits, 1);
        // Another role never gets the agent's records.
        let admin = plan(CONTACTS, "contacts", "admin");
        let mut m = JsonMasker::new(admin);
        assert_eq!(
            crate::mask_all(&mut m, input.as_bytes()).unwrap(),
            input.as_bytes()
        );
    }

    #[test]
    fn similar_objects_each_keep_their_record() {
        crate::clear_thread_caches();
        let p = plan(CONTACTS, "contacts", "agent");
        // Same length, same first and last 64 bytes: only the middle tells them apart.
        let obj = |i: usize| {
            format!(
                r#"{{"kind":"status","pad":"{}","id":"5058749240{i:03}","tail":"{}"}}"#,
                "a".repeat(60),
                "z".repeat(60)
            )
        };
        let list = |order: &mut dyn Iterator<Item = usize>| {
            format!("[{}]", order.map(obj).collect::<Vec<_>>().join(","))
        };
        let (first, _, _) = whole_and_bytewise(&p, &list(&mut (0..50)));
        let hits = spans::hits();
        // The same objects in another order: the array is new, each object is a hit.
        let (second, bytewise, _) = whole_and_bytewise(&p, &list(&mut (0..50).rev()));
        assert_eq!(second, bytewise);
        assert_eq!(spans::hits() - hits, 50);
        assert_eq!(first.len(), second.len());
    }

    #[test]
    fn bytes_around_a_replayed_container_are_still_checked_for_utf8() {
        crate::clear_thread_caches();
        let p = plan(CONTACTS, "contacts", "agent");
        for (before, after) in [(&b"\"\xff\","[..], &b""[..]), (&b""[..], &b",\"\xc3\""[..])] {
            // Recorded by a valid document (a failed one clears the records it made).
            let mut m = JsonMasker::new(p.clone());
            crate::mask_all(&mut m, format!("[{OBJ}]").as_bytes()).unwrap();
            let doc = [&b"["[..], before, OBJ.as_bytes(), after, b"]"].concat();
            let hits = spans::hits();
            let mut m = JsonMasker::new(p.clone());
            let err = crate::mask_all(&mut m, &doc).unwrap_err();
            assert!(matches!(err, MaskError::Malformed { .. }), "{err:?}");
            assert_eq!(spans::hits() - hits, 1, "the container itself was replayed");
        }
    }

    #[test]
    fn long_objects_alike_in_their_sampled_bytes_are_still_masked_right() {
        crate::clear_thread_caches();
        let p = plan(CONTACTS, "contacts", "agent");
        // 3 KB objects: hashed by samples. They differ at byte ~700 only (outside every
        // sample), in the phone of the note, so they share an index slot.
        let obj = |i: usize| {
            format!(
                r#"{{"a":"{}","note":"ligue +55 21 98123-45{i:02} hoje","b":"{}"}}"#,
                "x".repeat(660),
                "y".repeat(2400)
            )
        };
        let list = |ids: &[usize]| {
            format!(
                "[{}]",
                ids.iter().map(|&i| obj(i)).collect::<Vec<_>>().join(",")
            )
        };
        let (first, bytewise, _) = whole_and_bytewise(&p, &list(&[1, 2]));
        assert_eq!(first, bytewise);
        assert!(!first.contains("98123"), "{first}");
        // Again, reversed: whatever the index kept, each object is masked as itself.
        let (again, bytewise, _) = whole_and_bytewise(&p, &list(&[2, 1]));
        assert_eq!(again, bytewise);
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        let w: serde_json::Value = serde_json::from_str(&again).unwrap();
        assert_eq!(v[0], w[1]);
        assert_eq!(v[1], w[0]);
        assert_ne!(v[0], v[1]);
    }

    #[test]
    fn a_recorded_container_too_deep_for_the_cap_still_fails() {
        crate::clear_thread_caches();
        let p = plan(CONTACTS, "contacts", "agent");
        let p = p.clone().with_limits(Limits {
            max_depth: 3,
            ..p.limits()
        });
        let nested = format!(r#"{{"x":[{OBJ}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}}"#);
        let mut m = JsonMasker::new(p.clone());
        crate::mask_all(&mut m, nested.as_bytes()).unwrap();
        // The same array one level deeper: four levels, over the cap of three.
        let deeper = format!(r#"{{"y":{nested}}}"#);
        let mut m = JsonMasker::new(p);
        let err = crate::mask_all(&mut m, deeper.as_bytes()).unwrap_err();
        assert!(matches!(err, MaskError::CapExceeded { .. }), "{err:?}");
    }

    #[test]
    fn a_failed_document_leaves_no_span_that_skips_the_utf8_check() {
        crate::clear_thread_caches();
        let p = plan(CONTACTS, "contacts", "agent");
        // A container long enough to be recorded, with a byte that is not UTF-8 in a key.
        let mut doc = br#"{"payload":[{"name":"Ana Souza","coun"#.to_vec();
        doc.push(0xeb);
        doc.extend_from_slice(br#"try":"Brasil","city":"Curitiba","plan":"ouro"}],"n":1}"#);
        for pass in 0..3 {
            let r = crate::mask_all(&mut JsonMasker::new(p.clone()), &doc);
            assert!(
                matches!(r, Err(MaskError::Malformed { .. })),
                "pass {pass}: {r:?}"
            );
        }
    }
}
