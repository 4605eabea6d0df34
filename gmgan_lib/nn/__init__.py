"""Morphological PDE layers on R2 and on M2 = R2 x S1 (PDE-G-CNNs, the layers of GM-GAN).

Modules here, their functional twins in :mod:`gmgan_lib.nn.functional`. Layout of M2 maps:
``[B, C, Or, H, W]``, orientation ``o`` at angle ``2 pi o / Or`` (counter-clockwise on screen).
"""
from gmgan_lib.nn import functional
from gmgan_lib.nn.equivariance import (check_equivariance, rot90_m2, rot90_r2, rotate_m2, rotate_r2,
                                       rotation_error_45)
from gmgan_lib.nn.group_conv import GroupConvM2
from gmgan_lib.nn.layers import (CDELayerM2, CDELayerR2, ConvectionM2, ConvectionR2, DELayerM2, DilationM2,
                                 DilationR2, ErosionM2, ErosionR2, LiftM2, LinearM2, LinearR2, MaxProjectM2,
                                 PDESequence)

__all__ = [
    "functional", "LiftM2", "ConvectionM2", "DilationM2", "ErosionM2", "LinearM2", "MaxProjectM2", "PDESequence",
    "CDELayerM2", "DELayerM2", "GroupConvM2", "ConvectionR2", "DilationR2", "ErosionR2", "LinearR2", "CDELayerR2",
    "check_equivariance", "rotation_error_45", "rot90_r2", "rot90_m2", "rotate_r2", "rotate_m2",
]
