//! MRH graph algorithms (concepts §7): the relation vocabulary, BFS horizon
//! with zones, path trust propagation combined by noisy-OR, zone decay, and
//! relationship summaries. Pure: the daemon keeps the adjacency, this module
//! walks it.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The Web4 ontology namespace.
pub const WEB4: &str = "https://web4.io/ontology#";

/// Decay per hop used by both trust functions.
pub const DECAY: f64 = 0.7;

/// Hops past which a node is BEYOND the horizon (zone trust 0).
pub const MAX_ZONE_HOPS: u32 = 5;

/// Default traversal depth.
pub const DEFAULT_DEPTH: u32 = 3;

/// What a relation is about, for summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Binding,
    Pairing,
    Witness,
    Membership,
    Delegation,
    Other,
}

/// Relations (local names in the `web4:` namespace), each with its category.
/// The first nine are the standard's sub-properties of `hasRelationship`.
pub const RELATIONS: [(&str, Category); 16] = [
    ("boundTo", Category::Binding),
    ("parentBinding", Category::Binding),
    ("childBinding", Category::Binding),
    ("siblingBinding", Category::Binding),
    ("pairedWith", Category::Pairing),
    ("energyPairing", Category::Pairing),
    ("dataPairing", Category::Pairing),
    ("servicePairing", Category::Pairing),
    ("witnessedBy", Category::Witness),
    ("timeWitness", Category::Witness),
    ("auditWitness", Category::Witness),
    ("oracleWitness", Category::Witness),
    ("memberOf", Category::Membership),
    ("hasAuthority", Category::Membership),
    ("hasLawOracle", Category::Membership),
    ("delegatesTo", Category::Delegation),
];

/// The category of a relation given by local name or full IRI.
pub fn category(relation: &str) -> Option<Category> {
    let local = relation.strip_prefix(WEB4).unwrap_or(relation);
    RELATIONS.iter().find(|(n, _)| *n == local).map(|(_, c)| *c)
}

/// MRH zone of a hop count.
pub fn zone(hops: u32) -> &'static str {
    crate::tensor::zone(hops)
}

/// Zone decay: `base · 0.7^hops`, zero beyond 4 hops.
pub fn zone_trust(base: f64, hops: u32) -> f64 {
    crate::tensor::hop_trust(base, hops, DECAY)
}

/// One directed, weighted edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub source: String,
    pub target: String,
    /// Relation local name (`pairedWith`, …).
    pub relation: String,
    pub weight: f64,
}

/// An adjacency list over both directions of every edge. Node names are
/// interned, so walks touch integers and allocate only for their answers.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    names: Vec<String>,
    ids: HashMap<String, u32>,
    /// node id → (neighbour id, edge index)
    adj: Vec<Vec<(u32, u32)>>,
    edges: Vec<Option<EdgeRec>>,
    index: HashMap<(u32, u8, u32), u32>,
}

#[derive(Debug, Clone, Copy)]
struct EdgeRec {
    /// Index into [`RELATIONS`].
    relation: u8,
    weight: f64,
}

fn relation_index(relation: &str) -> Option<u8> {
    let local = relation.strip_prefix(WEB4).unwrap_or(relation);
    RELATIONS.iter().position(|(n, _)| *n == local).and_then(|i| u8::try_from(i).ok())
}

fn relation_name(i: u8) -> &'static str {
    RELATIONS.get(usize::from(i)).map(|(n, _)| *n).unwrap_or("hasRelationship")
}

/// A horizon: distances and zones from an origin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Horizon {
    pub distances: BTreeMap<String, u32>,
    pub zones: BTreeMap<&'static str, Vec<String>>,
    /// Nodes left out because the node limit was reached.
    pub truncated: bool,
}

/// A path found by trust propagation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathTrust {
    pub nodes: Vec<String>,
    pub relations: Vec<String>,
    pub trust: f64,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), i);
        self.adj.push(Vec::new());
        i
    }

    fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map(String::as_str).unwrap_or("")
    }

    /// Add (or re-weight) an edge; edges of unknown relations are ignored.
    pub fn add(&mut self, e: Edge) {
        self.add_ref(&e.source, &e.relation, &e.target, e.weight);
    }

    /// [`Graph::add`] without owning the names.
    pub fn add_ref(&mut self, source: &str, relation: &str, target: &str, weight: f64) {
        let Some(rel) = relation_index(relation) else { return };
        let (s, t) = (self.intern(source), self.intern(target));
        let rec = EdgeRec { relation: rel, weight };
        if let Some(&i) = self.index.get(&(s, rel, t)) {
            self.edges[i as usize] = Some(rec);
            return;
        }
        let i = u32::try_from(self.edges.len()).unwrap_or(u32::MAX);
        self.adj[s as usize].push((t, i));
        if s != t {
            self.adj[t as usize].push((s, i));
        }
        self.index.insert((s, rel, t), i);
        self.edges.push(Some(rec));
    }

    /// Remove an edge (no-op when absent).
    pub fn remove(&mut self, source: &str, relation: &str, target: &str) {
        let (Some(&s), Some(rel), Some(&t)) = (self.ids.get(source), relation_index(relation), self.ids.get(target))
        else {
            return;
        };
        let Some(i) = self.index.remove(&(s, rel, t)) else { return };
        self.edges[i as usize] = None;
        for n in [s, t] {
            self.adj[n as usize].retain(|(_, j)| *j != i);
        }
    }

    /// Number of live edges.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the graph has no edges.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `node` has any edge.
    pub fn contains(&self, node: &str) -> bool {
        self.ids.get(node).is_some_and(|&i| !self.adj[i as usize].is_empty())
    }

    fn neighbours(&self, node: u32) -> impl Iterator<Item = (u32, EdgeRec)> + '_ {
        self.adj
            .get(node as usize)
            .into_iter()
            .flatten()
            .filter_map(|&(n, i)| self.edges.get(i as usize).copied().flatten().map(|e| (n, e)))
    }

    /// BFS over edges in both directions up to `depth`, visiting at most
    /// `max_nodes` nodes; `relations` (local names), when given, restricts the
    /// edges followed.
    pub fn horizon(&self, origin: &str, depth: u32, max_nodes: usize, relations: Option<&[String]>) -> Horizon {
        let allowed: Option<Vec<u8>> = relations.map(|r| r.iter().filter_map(|x| relation_index(x)).collect());
        let mut dist: HashMap<u32, u32> = HashMap::new();
        let mut truncated = false;
        if let Some(&o) = self.ids.get(origin) {
            let mut queue = VecDeque::from([(o, 0u32)]);
            dist.insert(o, 0);
            'bfs: while let Some((n, d)) = queue.pop_front() {
                if d >= depth {
                    continue;
                }
                for (m, e) in self.neighbours(n) {
                    if allowed.as_ref().is_some_and(|a| !a.contains(&e.relation)) || dist.contains_key(&m) {
                        continue;
                    }
                    if dist.len() >= max_nodes {
                        truncated = true;
                        break 'bfs;
                    }
                    dist.insert(m, d + 1);
                    queue.push_back((m, d + 1));
                }
            }
        } else {
            dist.insert(u32::MAX, 0);
        }
        let distances: BTreeMap<String, u32> = dist
            .into_iter()
            .map(|(n, d)| (if n == u32::MAX { origin.to_owned() } else { self.name(n).to_owned() }, d))
            .collect();
        let mut zones: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for (n, d) in &distances {
            zones.entry(zone(*d)).or_default().push(n.clone());
        }
        Horizon { distances, zones, truncated }
    }

    /// Hops from `source` to `target` over edges in either direction, if
    /// within `max` hops. Bidirectional BFS: each step expands the smaller
    /// frontier, so a query touches about `2·d^(h/2)` nodes instead of `d^h`.
    pub fn distance(&self, source: &str, target: &str, max: u32) -> Option<u32> {
        if source == target {
            return Some(0);
        }
        let (&s, &t) = (self.ids.get(source)?, self.ids.get(target)?);
        let mut seen = [HashMap::from([(s, 0u32)]), HashMap::from([(t, 0u32)])];
        let mut frontier = [vec![s], vec![t]];
        let mut depth = [0u32, 0u32];
        while depth[0] + depth[1] < max {
            let side = usize::from(frontier[1].len() < frontier[0].len());
            if frontier[side].is_empty() {
                return None;
            }
            depth[side] += 1;
            let mut next = Vec::new();
            for &n in &frontier[side] {
                for (m, _) in self.neighbours(n) {
                    if let Some(&d) = seen[1 - side].get(&m) {
                        return Some(depth[side] + d);
                    }
                    if let std::collections::hash_map::Entry::Vacant(v) = seen[side].entry(m) {
                        v.insert(depth[side]);
                        next.push(m);
                    }
                }
            }
            frontier[side] = next;
        }
        None
    }

    /// Trust from `source` to `target` along every simple path of at most
    /// `depth` edges (either direction): each path gives `Π w_i · 0.7^(i+1)`,
    /// and paths combine by noisy-OR `1 − Π(1 − t_p)`. At most `max_paths`
    /// paths are collected (the strongest are not guaranteed beyond that).
    pub fn path_trust(&self, source: &str, target: &str, depth: u32, max_paths: usize) -> (f64, Vec<PathTrust>) {
        if source == target {
            return (1.0, Vec::new());
        }
        let (Some(&s), Some(&t)) = (self.ids.get(source), self.ids.get(target)) else { return (0.0, Vec::new()) };
        let mut walk = Walk {
            target: t,
            depth: depth as usize,
            max_paths,
            nodes: vec![s],
            relations: Vec::new(),
            found: Vec::new(),
        };
        self.dfs(s, 1.0, &mut walk);
        let distrust: f64 = walk.found.iter().map(|(_, _, t)| 1.0 - t).product();
        let mut paths: Vec<PathTrust> = walk
            .found
            .into_iter()
            .map(|(ns, rs, trust)| PathTrust {
                nodes: ns.into_iter().map(|n| self.name(n).to_owned()).collect(),
                relations: rs.into_iter().map(|r| relation_name(r).to_owned()).collect(),
                trust,
            })
            .collect();
        paths.sort_by(|a, b| b.trust.total_cmp(&a.trust));
        (1.0 - distrust, paths)
    }

    fn dfs(&self, at: u32, trust: f64, w: &mut Walk) {
        let hop = i32::try_from(w.nodes.len()).unwrap_or(i32::MAX); // i + 1 for the next edge
        let decay = DECAY.powi(hop);
        for (m, e) in self.neighbours(at) {
            if w.found.len() >= w.max_paths {
                return;
            }
            // The path is at most `depth` nodes long: a scan beats hashing.
            if w.nodes.contains(&m) {
                continue;
            }
            let t = trust * e.weight * decay;
            if m == w.target {
                let mut ns = w.nodes.clone();
                ns.push(m);
                let mut rs = w.relations.clone();
                rs.push(e.relation);
                w.found.push((ns, rs, t));
                continue;
            }
            if w.nodes.len() >= w.depth || t <= 0.0 {
                continue;
            }
            w.nodes.push(m);
            w.relations.push(e.relation);
            self.dfs(m, t, w);
            w.relations.pop();
            w.nodes.pop();
        }
    }

    /// Count of `node`'s relations (both directions) by category.
    pub fn summary(&self, node: &str) -> BTreeMap<Category, u32> {
        let mut out: BTreeMap<Category, u32> =
            [Category::Binding, Category::Pairing, Category::Witness].into_iter().map(|c| (c, 0)).collect();
        if let Some(&n) = self.ids.get(node) {
            for (_, e) in self.neighbours(n) {
                let c = RELATIONS.get(usize::from(e.relation)).map(|(_, c)| *c).unwrap_or(Category::Other);
                *out.entry(c).or_default() += 1;
            }
        }
        out
    }
}

/// State of one path enumeration.
struct Walk {
    target: u32,
    depth: usize,
    max_paths: usize,
    nodes: Vec<u32>,
    relations: Vec<u8>,
    found: Vec<(Vec<u32>, Vec<u8>, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(&str, &str, &str, f64)]) -> Graph {
        let mut g = Graph::new();
        for (s, t, r, w) in edges {
            g.add(Edge { source: (*s).into(), target: (*t).into(), relation: (*r).into(), weight: *w });
        }
        g
    }

    #[test]
    fn noisy_or_over_two_paths() {
        let g = g(&[("a", "b", "pairedWith", 1.0), ("b", "c", "pairedWith", 1.0), ("a", "c", "witnessedBy", 0.5)]);
        let (t, paths) = g.path_trust("a", "c", 3, 100);
        // direct: 0.5·0.7 = 0.35; via b: 0.7 · 0.49 = 0.343; 1 − 0.65·0.657
        assert!((t - (1.0 - 0.65 * 0.657)).abs() < 1e-12, "{t}");
        assert_eq!(paths.len(), 2);
        assert_eq!(paths[0].nodes, vec!["a", "c"]);
    }

    proptest::proptest! {
        /// The bidirectional distance equals the one-sided BFS horizon.
        #[test]
        fn distance_matches_bfs(edges in proptest::collection::vec((0u8..30, 0u8..30), 0..80), s in 0u8..30, t in 0u8..30, max in 0u32..7) {
            let mut g = Graph::new();
            for (a, b) in &edges {
                g.add_ref(&a.to_string(), "pairedWith", &b.to_string(), 1.0);
            }
            let (s, t) = (s.to_string(), t.to_string());
            let want = if g.contains(&s) || s == t {
                g.horizon(&s, max, usize::MAX, None).distances.get(&t).copied()
            } else {
                None
            };
            let want = if s == t { Some(0) } else { want };
            proptest::prop_assert_eq!(g.distance(&s, &t, max), want);
        }
    }

    #[test]
    fn remove_and_limits() {
        let mut g = g(&[("a", "b", "pairedWith", 1.0), ("b", "c", "pairedWith", 1.0)]);
        assert!(g.horizon("a", 3, 2, None).truncated);
        assert_eq!(g.distance("a", "c", 2), Some(2));
        assert_eq!(g.distance("a", "c", 1), None);
        g.remove("a", "pairedWith", "b");
        assert_eq!(g.len(), 1);
        assert!(!g.contains("a"));
        assert_eq!(g.path_trust("a", "c", 3, 10).0, 0.0);
        assert_eq!(g.horizon("b", 3, 100, Some(&["boundTo".into()])).distances.len(), 1);
    }
}
