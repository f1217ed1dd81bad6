"""Why a model said smoke: Grad-CAM over clips, as volumes, stacked-frame pictures and GIFs."""
