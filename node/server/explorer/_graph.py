"""The chain as a graph: which step drew on which, laid out by networkx, drawn as SVG.

Nodes are the verdict's steps and a bounded bundle's seeded parcels; an edge runs from the
step that made (or last handed on) a parcel to the step that drew on it, and from a
certificate to its confirmation. networkx assigns the layers (``topological_generations``:
the mines, or the seeds, on the first row, the subject's import on the last) and the places
within them (``multipartite_layout``); this module only scales those places to pixels and
writes boxes, labels and curves. The picture is for the eye: the table beside it holds the
same steps for screen readers and for copying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from client.verify import SeededParcel, Step, StepParcel

NODE_WIDTH = 236
NODE_HEIGHT = 80
GAP_X = 28
GAP_Y = 52
PAD = 16
LINE_CHARS = 34  # what fits a box at the stylesheet's 12 px
# Past this many boxes a picture no longer helps anyone read the chain (and its layout and SVG
# would grow with the bundle): the table alone lists the steps.
MAX_GRAPH_NODES = 200


@dataclass(frozen=True, slots=True)
class GraphNode:
    id: str
    x: float
    y: float
    lines: tuple[str, ...]
    href: str
    label: str  # the link's accessible name
    css: str  # step-production, step-transform … : colour comes from the stylesheet
    layer: int  # 0: the mines or the seeds; the last: the subject's import


@dataclass(frozen=True, slots=True)
class GraphEdge:
    path: str  # SVG path data


@dataclass(frozen=True, slots=True)
class Graph:
    width: int
    height: int
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT
    omitted: int = 0  # steps and seeds not drawn: more than MAX_GRAPH_NODES


_TITLES = {
    "parcel.produce": "Production",
    "parcel.transfer": "Transfer",
    "certificate.issue": "Certificate",
    "certificate.confirm": "Import confirmation",
}


def step_title(step: Step) -> str:
    """What a step is, in words: ``Production``, ``Split``, ``Certificate BW-2026-0001``."""
    if step.type == "parcel.transform":
        return (step.kind or "transform").capitalize()
    if step.type == "certificate.issue" and step.certificate:
        return f"Certificate {step.certificate}"
    return _TITLES.get(step.type, step.type)


def stated_date(step: Step) -> str:
    """The date a reader needs: the one the record states, else the one it was recorded."""
    word = {
        "parcel.produce": "produced",
        "certificate.issue": "issued",
        "certificate.confirm": "received",
    }.get(step.type)
    if step.stated_on and word:
        return f"{word} {step.stated_on}"
    return f"recorded {step.date}"


def _carats(centicarats: int) -> str:
    return f"{centicarats / 100:,.2f} ct"


def hs_change(step: Step) -> str:
    """The HS codes a step takes in and hands out, ``7102.10 → 7102.31, 7102.21`` when they
    change."""
    before = list(dict.fromkeys(p.hs_code for p in step.inputs))
    after = list(dict.fromkeys(p.hs_code for p in step.outputs))
    if before and after and before != after:
        return f"HS {', '.join(before)} → {', '.join(after)}"
    return f"HS {', '.join(after or before)}" if after or before else ""


def step_origins(step: Step) -> tuple[str, ...]:
    """The mining origins of what a step handles (its own, else its parcels')."""
    if step.origins:
        return step.origins
    return tuple(sorted({o for p in (*step.outputs, *step.inputs) for o in p.origins}))


def _mass_line(step: Step) -> str:
    origins = ", ".join(step_origins(step))
    if len(step.outputs) > 1:
        masses = " + ".join(_carats(p.centicarats) for p in step.outputs)
        return f"{masses}"[: LINE_CHARS * 2]
    mass = "" if step.centicarats is None else _carats(step.centicarats)
    return f"{mass} · {origins}" if origins else mass


def _cut(text: str) -> str:
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def _step_lines(step: Step) -> tuple[str, ...]:
    third = hs_change(step)
    if step.type == "parcel.transfer" and step.holder:
        third = f"to {step.holder} · {third}" if third else f"to {step.holder}"
    elif len(step.outputs) > 1:
        third = f"{third} · {', '.join(step_origins(step))}"
    return tuple(
        _cut(line)
        for line in (
            f"{step_title(step)} · {step.log}",
            _mass_line(step),
            third,
            stated_date(step),
        )
    )


def parcel_href(parcel: StepParcel | SeededParcel) -> str:
    return f"/parcels/{parcel.log}/{parcel.seq}/{parcel.out}"


def _seed_id(log: str, seq: int, out: int) -> str:
    return f"seed:{log}/{seq}/{out}"


def chain_graph(steps: Sequence[Step], seeds: Sequence[SeededParcel]) -> Graph:
    """Lay out ``steps`` and ``seeds`` as a graph from the mines (or seeds) to the subject;
    nothing drawn (``omitted``) when they are more than ``MAX_GRAPH_NODES``."""
    if len(steps) + len(seeds) > MAX_GRAPH_NODES:
        return Graph(PAD * 2, PAD * 2, (), (), omitted=len(steps) + len(seeds))
    graph: nx.DiGraph[str] = nx.DiGraph()
    for seed in seeds:
        graph.add_node(_seed_id(seed.log, seed.seq, seed.out))
    by_hash = {step.hash: step for step in steps}
    for step in steps:
        graph.add_node(step.hash)
    # Custody of each parcel: its maker, then each transfer of it in log order.
    holder_node: dict[tuple[str, int], str] = {}

    def maker(parcel: StepParcel) -> str | None:
        key = (parcel.hash, parcel.out)
        if key in holder_node:
            return holder_node[key]
        if parcel.hash in by_hash:
            return parcel.hash
        seed = _seed_id(parcel.log, parcel.seq, parcel.out)
        return seed if seed in graph else None

    for step in sorted(steps, key=lambda s: (s.log, s.seq)):
        drawn_from: list[str] = []
        for parcel in step.inputs:
            source = maker(parcel)
            if source is not None:
                drawn_from.append(source)
            if step.type == "parcel.transfer":
                holder_node[(parcel.hash, parcel.out)] = step.hash
        if not step.inputs:  # a confirmation: from its certificate
            drawn_from.extend(s for s in step.sources if s in by_hash)
        for source in dict.fromkeys(drawn_from):
            if source != step.hash:
                graph.add_edge(source, step.hash)
    if not nx.is_directed_acyclic_graph(graph):  # a forged bundle; the verdict says so
        graph.remove_edges_from(list(graph.edges))
    for layer, generation in enumerate(nx.topological_generations(graph)):
        for node in generation:
            graph.nodes[node]["layer"] = layer
    if graph.number_of_nodes() == 0:
        return Graph(PAD * 2, PAD * 2, (), ())
    positions = nx.multipartite_layout(graph, subset_key="layer", align="horizontal")
    layers = 1 + max(graph.nodes[n]["layer"] for n in graph)
    widest = max(
        sum(1 for n in graph if graph.nodes[n]["layer"] == layer) for layer in range(layers)
    )
    width = PAD * 2 + widest * NODE_WIDTH + (widest - 1) * GAP_X
    height = PAD * 2 + layers * NODE_HEIGHT + (layers - 1) * GAP_Y
    xs = [float(p[0]) for p in positions.values()]
    low, high = min(xs), max(xs)
    span = width - PAD * 2 - NODE_WIDTH

    def left(node: str) -> float:
        x = float(positions[node][0])
        return PAD + (span / 2 if high == low else (x - low) / (high - low) * span)

    def top(node: str) -> float:
        return float(PAD + graph.nodes[node]["layer"] * (NODE_HEIGHT + GAP_Y))

    seeds_by_id = {_seed_id(s.log, s.seq, s.out): s for s in seeds}
    nodes = []
    for node in graph:
        lines: tuple[str, ...]
        if node in seeds_by_id:
            seed = seeds_by_id[node]
            lines = (
                _cut(f"Seeded parcel · {seed.log}"),
                _cut(f"{seed.parcel} · {_carats(seed.centicarats)}"),
                _cut(f"HS {seed.hs_code} · origins {', '.join(seed.origins)}"),
                "history rests on the witnesses",
            )
            href, css = parcel_href(seed), "step-seed"
        else:
            step = by_hash[node]
            lines = _step_lines(step)
            href, css = f"/verify/{step.hash}", "step-" + step.type.replace(".", "-")
        nodes.append(
            GraphNode(
                node,
                left(node),
                top(node),
                lines,
                href,
                "; ".join(line for line in lines if line),
                css,
                graph.nodes[node]["layer"],
            )
        )
    edges = []
    for source, target in graph.edges:
        x1, y1 = left(source) + NODE_WIDTH / 2, top(source) + NODE_HEIGHT
        x2, y2 = left(target) + NODE_WIDTH / 2, top(target)
        bend = (y2 - y1) / 2
        edges.append(
            GraphEdge(
                f"M{x1:.1f} {y1:.1f} C{x1:.1f} {y1 + bend:.1f} {x2:.1f} {y2 - bend:.1f} "
                f"{x2:.1f} {y2 - 6:.1f}"
            )
        )
    return Graph(int(width), int(height), tuple(nodes), tuple(edges))
