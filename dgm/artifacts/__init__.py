"""What sandboxes leave behind, read as data: bounded JSON, regular files only, checked schemas.

Every file an agent wrote (trajectory.json, result.json) and every JSON a run's artifacts hold is
read through here: size-, count- and depth-capped as it is parsed, validated into typed records, and
turned into a one-line `ArtifactInvalid` reason instead of an exception anywhere else.
"""

from dgm.artifacts.bounded import ArtifactInvalid, JsonLimits, parse_bounded
from dgm.artifacts.files import read_regular
from dgm.artifacts.trajectory import (TRAJECTORY_CAP, TRAJECTORY_FORMAT, AgentResult, Message, Step, StepCall,
                                      Trajectory, parse_result, parse_trajectory, read_trajectory,
                                      trajectory_from_json)

__all__ = ["ArtifactInvalid", "JsonLimits", "parse_bounded", "read_regular", "TRAJECTORY_CAP",
           "TRAJECTORY_FORMAT", "AgentResult", "Message", "Step", "StepCall", "Trajectory", "parse_result",
           "parse_trajectory", "read_trajectory", "trajectory_from_json"]
