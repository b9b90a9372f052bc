"""GRU over a window of past states; a linear read-out of the last hidden state gives the
increment to the next state: x_{n+1} = x_n + W h_n."""

from torch import nn

from phasebench import ModelPlugin


class GRU(ModelPlugin):
    name = "gru"
    hparam_schema = {"hidden": {"minimum": 1}, "layers": {"minimum": 1}}
    family = "recurrent"
    input_steps = 4
    output_steps = 1

    def __init__(self, spec, hidden: int = 36, layers: int = 1):
        super().__init__(spec)
        self.gru = nn.GRU(spec.dim, hidden, num_layers=layers, batch_first=True)
        self.readout = nn.Linear(hidden, spec.dim)

    def forward(self, window):  # (B, 4, D) -> (B, 1, D)
        hidden_states, _ = self.gru(window)
        return window[:, -1:] + self.readout(hidden_states[:, -1:])
