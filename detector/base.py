"""What every detector back-end returns: person boxes, the low-score ones and stage times."""

from __future__ import annotations

from dataclasses import dataclass, field

# COCO 'bus' in the 80-class order both model families use (the SSD's label map without its
# background line, YOLOX's class scores): the kerb zone's "did the bus stop?"
BUS = 5
SIGNATURE_WH = (8, 16)  # the crop signature's thumbnail: 8 wide, 16 tall (a standing person)


@dataclass(frozen=True, slots=True)
class Detection:
    """One person, as a box in fractions (0..1) of the frame's width and height.

    ``signature`` is a tiny grey thumbnail of the box's pixels (``SIGNATURE_WH``, row-major,
    one byte a pixel), made where the image is (the detector front-end) so that the decision
    core can tell a box whose picture never changes (a poster, a hydrant) from a person while
    staying pure. Empty when nobody made one (scripted detections, the fleet simulator).
    """

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    signature: bytes = field(default=b"", compare=False, repr=False)

    @property
    def bottom_centre(self) -> tuple[float, float]:
        """Where the person stands: the middle of the box's lower edge."""
        return ((self.x1 + self.x2) / 2.0, self.y2)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


@dataclass(slots=True)
class StageTimes:
    """Milliseconds spent in each step of one detector call."""

    preprocess_ms: float = 0.0
    invoke_ms: float = 0.0
    decode_ms: float = 0.0
    invokes: int = 0


@dataclass(slots=True)
class DetectorResult:
    """``detections``: boxes at or above the confirming threshold (what counts as a person).
    ``low``: boxes between the floor and that threshold, which only the tracker sees: they may
    carry on a track that strong detections started, never start one (ByteTrack's second
    association)."""

    detections: list[Detection] = field(default_factory=list)
    times: StageTimes = field(default_factory=StageTimes)
    # boxes scored between the profile's score_floor and its threshold: never a new person,
    # but they may carry on a tracked one, and the adaptive rate looks closer near the zone
    low: list[Detection] = field(default_factory=list)
    # boxes of the detector's bus class (COCO 'bus'), for the kerb zone's "did the bus stop?";
    # empty from a detector that does not look for buses
    buses: list[Detection] = field(default_factory=list)


