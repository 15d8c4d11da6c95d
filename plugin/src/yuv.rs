//! [`VideoUpload::YuvShader`](crate::VideoUpload): remote pictures reach the GPU as their
//! three I420 planes (1.5 bytes a pixel instead of 4) and a render pass converts them into the
//! track's RGBA texture, so [`RemoteVideo::image`](crate::RemoteVideo) works unchanged on a
//! sprite, a UI node or a material.
//!
//! Data flow, one new picture:
//! - main world, [`LivestageSystems::Upload`](crate::LivestageSystems): the decoded
//!   `Arc<I420>` goes into [`Pictures`] with the id of the track's target image (no copy, no
//!   conversion, no `AssetMut`: the target has no CPU data and is rewritten only when the
//!   picture size changes);
//! - `ExtractSchedule`: the `Arc`s move into the render world;
//! - `Render`, [`RenderSystems::PrepareResources`]: each picture's planes are written with
//!   `RenderQueue::write_texture` straight from the `Arc` into R8 plane textures (Y at w x h,
//!   U and V at w/2 x h/2), kept per target and remade when the size changes;
//! - `RenderGraph`, [`RenderGraphSystems::Begin`] (before any camera renders): one fullscreen
//!   triangle per picture into the target's texture (`yuv.wgsl`), with the integer arithmetic
//!   of the CPU conversion (yuvutils-rs, BT.601 limited range), so the picture matches the RGBA
//!   path's. It draws into a non-sRGB view of the sRGB texture, which stores the 8-bit levels
//!   unchanged (an sRGB texture cannot be a storage texture, and drawing into its sRGB view
//!   would need a decode per pixel); that view needs the adapter's `VIEW_FORMATS` (every
//!   native backend has it).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use bevy::asset::{RenderAssetUsages, embedded_asset, load_embedded_asset};
use bevy::prelude::*;
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_resource::binding_types::texture_2d;
use bevy::render::render_resource::{
    BindGroup, BindGroupEntries, BindGroupLayoutDescriptor, BindGroupLayoutEntries,
    CachedRenderPipelineId, ColorTargetState, ColorWrites, DownlevelFlags, Extent3d, FragmentState,
    LoadOp, Operations, PipelineCache, RenderPassColorAttachment, RenderPassDescriptor,
    RenderPipelineDescriptor, ShaderStages, StoreOp, TexelCopyBufferLayout, Texture,
    TextureDescriptor, TextureDimension, TextureFormat, TextureId, TextureSampleType,
    TextureUsages, TextureView, TextureViewDescriptor, VertexState,
};
use bevy::render::renderer::{
    RenderAdapter, RenderContext, RenderDevice, RenderGraph, RenderGraphSystems, RenderQueue,
};
use bevy::render::texture::GpuImage;
use bevy::render::{Extract, ExtractSchedule, Render, RenderApp, RenderStartup, RenderSystems};
use livestage_media::video::I420;

/// The target texture's format: the RGBA path's, so both look the same to the game.
const TARGET_FORMAT: TextureFormat = TextureFormat::Rgba8UnormSrgb;
/// The view the conversion draws into: the same bytes, no sRGB encoding on store.
const DRAW_FORMAT: TextureFormat = TextureFormat::Rgba8Unorm;

/// A picture waits this many frames for its target texture (a new or resized image is
/// normally ready in the frame it was made) before it is dropped.
const MAX_WAIT_FRAMES: u8 = 8;

/// Main world: the pictures the Upload set handed over this frame, by target image.
#[derive(Resource, Default)]
pub(crate) struct Pictures(Vec<(AssetId<Image>, Arc<I420>)>);

impl Pictures {
    /// Forgets last frame's pictures (the render world took its own `Arc`s when it extracted).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Hands `picture` to the render world for the texture `target`.
    pub(crate) fn push(&mut self, target: AssetId<Image>, picture: Arc<I420>) {
        self.0.push((target, picture));
    }
}

/// An RGBA (sRGB) texture of `width`x`height` with no CPU data, which the render world draws
/// the planes into: the [`RemoteVideo::image`](crate::RemoteVideo) of a YUV-shader track.
pub(crate) fn target(width: u32, height: u32) -> Image {
    let mut image = Image::new_uninit(
        Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        TARGET_FORMAT,
        RenderAssetUsages::MAIN_WORLD | RenderAssetUsages::RENDER_WORLD,
    );
    image.texture_descriptor.usage = TextureUsages::TEXTURE_BINDING
        | TextureUsages::RENDER_ATTACHMENT
        | TextureUsages::COPY_SRC
        | TextureUsages::COPY_DST;
    image.texture_descriptor.view_formats = &[DRAW_FORMAT];
    image
}

/// Sets up the render world's part, or says why it cannot (and does nothing).
pub(crate) fn setup(app: &mut App) -> Result<(), &'static str> {
    if app.get_sub_app(RenderApp).is_none() {
        return Err("this app has no renderer");
    }
    // Inserted by the renderer when it starts, before this plugin's `finish` if it was added
    // after `DefaultPlugins`.
    let Some(adapter) = app.world().get_resource::<RenderAdapter>() else {
        return Err("the renderer had not started (add LivestagePlugin after DefaultPlugins)");
    };
    let flags = adapter.get_downlevel_capabilities().flags;
    if !flags.contains(DownlevelFlags::VIEW_FORMATS) {
        return Err("this graphics backend cannot view an sRGB texture as linear");
    }
    embedded_asset!(app, "yuv.wgsl");
    app.init_resource::<Pictures>();
    let render_app = app.sub_app_mut(RenderApp);
    render_app
        .init_resource::<Pending>()
        .init_resource::<Targets>()
        .init_resource::<Conversions>()
        .add_systems(RenderStartup, init_pipeline)
        .add_systems(ExtractSchedule, extract)
        .add_systems(Render, prepare.in_set(RenderSystems::PrepareResources))
        .add_systems(RenderGraph, convert.in_set(RenderGraphSystems::Begin));
    Ok(())
}

/// Render world: the newest picture per target not yet drawn, and for how many frames it has
/// been waiting for its texture.
#[derive(Resource, Default)]
struct Pending(HashMap<AssetId<Image>, (Arc<I420>, u8)>);

/// Render world: the plane textures of each target.
#[derive(Resource, Default)]
struct Targets(HashMap<AssetId<Image>, Planes>);

/// Y, U and V of one target, the bind group that reads them, and the view the conversion
/// draws into (remade when the target's texture is).
struct Planes {
    size: (u32, u32),
    textures: [Texture; 3],
    bind_group: BindGroup,
    target: Option<(TextureId, TextureView)>,
}

/// Render world: the conversions to draw this frame.
#[derive(Resource, Default)]
struct Conversions(Vec<(TextureView, BindGroup)>);

#[derive(Resource)]
struct Pipeline {
    layout: BindGroupLayoutDescriptor,
    id: CachedRenderPipelineId,
}

fn init_pipeline(
    mut commands: Commands,
    asset_server: Res<AssetServer>,
    pipeline_cache: Res<PipelineCache>,
) {
    let layout = BindGroupLayoutDescriptor::new(
        "livestage_yuv_planes",
        &BindGroupLayoutEntries::sequential(
            ShaderStages::FRAGMENT,
            (
                texture_2d(TextureSampleType::Float { filterable: false }),
                texture_2d(TextureSampleType::Float { filterable: false }),
                texture_2d(TextureSampleType::Float { filterable: false }),
            ),
        ),
    );
    let shader = load_embedded_asset!(asset_server.as_ref(), "yuv.wgsl");
    let id = pipeline_cache.queue_render_pipeline(RenderPipelineDescriptor {
        label: Some("livestage_yuv_to_rgba".into()),
        layout: vec![layout.clone()],
        vertex: VertexState {
            shader: shader.clone(),
            entry_point: Some("vertex".into()),
            ..default()
        },
        fragment: Some(FragmentState {
            shader,
            entry_point: Some("fragment".into()),
            targets: vec![Some(ColorTargetState {
                format: DRAW_FORMAT,
                blend: None,
                write_mask: ColorWrites::ALL,
            })],
            ..default()
        }),
        ..default()
    });
    commands.insert_resource(Pipeline { layout, id });
}

fn extract(pictures: Extract<Res<Pictures>>, mut pending: ResMut<Pending>) {
    for (target, picture) in &pictures.0 {
        pending.0.insert(*target, (picture.clone(), 0));
    }
}

/// Writes each pending picture's planes and queues its conversion, once the pipeline and the
/// target texture (of the picture's size) exist.
fn prepare(
    mut pending: ResMut<Pending>,
    mut targets: ResMut<Targets>,
    mut conversions: ResMut<Conversions>,
    images: Res<RenderAssets<GpuImage>>,
    pipeline: Option<Res<Pipeline>>,
    pipeline_cache: Res<PipelineCache>,
    device: Res<RenderDevice>,
    queue: Res<RenderQueue>,
) {
    conversions.0.clear();
    // Planes of targets whose image is gone.
    targets.0.retain(|id, _| images.get(*id).is_some());
    let Some(pipeline) = pipeline else {
        return;
    };
    if pipeline_cache.get_render_pipeline(pipeline.id).is_none() {
        return; // Still compiling: the pictures wait.
    }
    pending.0.retain(|id, (picture, waited)| {
        let Some(image) = images.get(*id) else {
            *waited += 1;
            return *waited < MAX_WAIT_FRAMES;
        };
        let size = picture.size();
        if image.size_2d() != UVec2::from(size) {
            // Resized in the main world; the new texture is on its way.
            *waited += 1;
            return *waited < MAX_WAIT_FRAMES;
        }
        let planes = match targets.0.entry(*id) {
            Entry::Occupied(planes) if planes.get().size == size => planes.into_mut(),
            entry => entry
                .insert_entry(Planes::new(
                    &device,
                    &pipeline_cache,
                    &pipeline.layout,
                    size,
                ))
                .into_mut(),
        };
        planes.write(&queue, picture);
        let view = match &planes.target {
            Some((texture, view)) if *texture == image.texture.id() => view.clone(),
            _ => {
                let view = image.texture.create_view(&TextureViewDescriptor {
                    label: Some("livestage_yuv_target"),
                    format: Some(DRAW_FORMAT),
                    ..default()
                });
                planes.target = Some((image.texture.id(), view.clone()));
                view
            }
        };
        conversions.0.push((view, planes.bind_group.clone()));
        false
    });
}

impl Planes {
    fn new(
        device: &RenderDevice,
        pipeline_cache: &PipelineCache,
        layout: &BindGroupLayoutDescriptor,
        (width, height): (u32, u32),
    ) -> Self {
        let plane = |label, width, height| {
            device.create_texture(&TextureDescriptor {
                label: Some(label),
                size: Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: TextureDimension::D2,
                format: TextureFormat::R8Unorm,
                usage: TextureUsages::TEXTURE_BINDING | TextureUsages::COPY_DST,
                view_formats: &[],
            })
        };
        let textures = [
            plane("livestage_y_plane", width, height),
            plane("livestage_u_plane", width / 2, height / 2),
            plane("livestage_v_plane", width / 2, height / 2),
        ];
        let views = textures
            .each_ref()
            .map(|t| t.create_view(&TextureViewDescriptor::default()));
        let bind_group = device.create_bind_group(
            "livestage_yuv_planes",
            &pipeline_cache.get_bind_group_layout(layout),
            &BindGroupEntries::sequential((&views[0], &views[1], &views[2])),
        );
        Self {
            size: (width, height),
            textures,
            bind_group,
            target: None,
        }
    }

    /// Copies the picture's planes into the textures (wgpu stages them for the next submit).
    fn write(&self, queue: &RenderQueue, picture: &I420) {
        let (width, height) = self.size;
        let planes = [picture.y(), picture.u(), picture.v()];
        let sizes = [
            (width, height),
            (width / 2, height / 2),
            (width / 2, height / 2),
        ];
        for ((texture, data), (w, h)) in self.textures.iter().zip(planes).zip(sizes) {
            queue.write_texture(
                texture.as_image_copy(),
                data,
                TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(w),
                    rows_per_image: Some(h),
                },
                Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
            );
        }
    }
}

/// Draws this frame's conversions, before the cameras render.
fn convert(
    mut context: RenderContext,
    conversions: Res<Conversions>,
    pipeline: Option<Res<Pipeline>>,
    pipeline_cache: Res<PipelineCache>,
) {
    let Some(pipeline) = pipeline else {
        return;
    };
    let Some(render_pipeline) = pipeline_cache.get_render_pipeline(pipeline.id) else {
        return;
    };
    for (target, bind_group) in &conversions.0 {
        let mut pass = context
            .command_encoder()
            .begin_render_pass(&RenderPassDescriptor {
                label: Some("livestage_yuv_to_rgba"),
                color_attachments: &[Some(RenderPassColorAttachment {
                    view: target,
                    depth_slice: None,
                    resolve_target: None,
                    ops: Operations {
                        // Every pixel is drawn.
                        load: LoadOp::Clear(Default::default()),
                        store: StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
        pass.set_pipeline(render_pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}
