package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// samplePoints is a typical benchmark: three runs at each of three sizes.
func samplePoints() []Point {
	return []Point{
		{10_000, 21_500, 38}, {10_000, 22_300, 41}, {10_000, 20_900, 45},
		{100_000, 19_800, 52}, {100_000, 20_400, 49}, {100_000, 18_700, 61},
		{1_000_000, 15_200, 88}, {1_000_000, 16_100, 79}, {1_000_000, 14_800, 95},
	}
}

func renderPNG(t *testing.T, title string, points []Point, targetTput, targetLat float64) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteChart(&buf, title, points, targetTput, targetLat); err != nil {
		t.Fatalf("WriteChart: %v", err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	return img
}

func sameRGBA(c color.Color, want color.RGBA) bool {
	r, g, b, a := c.RGBA()
	return uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(b>>8) == want.B && uint8(a>>8) == want.A
}

// countColour counts the pixels of colour col inside r.
func countColour(img image.Image, r image.Rectangle, col color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if sameRGBA(img.At(x, y), col) {
				n++
			}
		}
	}
	return n
}

// topOfColour returns the smallest y of a pixel of colour col inside r, or
// -1 when there is none.
func topOfColour(img image.Image, r image.Rectangle, col color.RGBA) int {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if sameRGBA(img.At(x, y), col) {
				return y
			}
		}
	}
	return -1
}

func plotRect() image.Rectangle {
	return image.Rect(chartPlotLeft, chartPlotTop, chartPlotRight, chartPlotBottom)
}

func TestWriteChartDecodesWithExpectedSize(t *testing.T) {
	img := renderPNG(t, "cxstream throughput and latency", samplePoints(), 20_000, 50)
	if got := img.Bounds(); got.Dx() != chartWidth || got.Dy() != chartHeight {
		t.Fatalf("size = %dx%d, want %dx%d", got.Dx(), got.Dy(), chartWidth, chartHeight)
	}
	if chartWidth != 900 || chartHeight != 500 {
		t.Fatalf("chart is %dx%d, want 900x500", chartWidth, chartHeight)
	}
}

func TestWriteChartSeriesColoursInPlotArea(t *testing.T) {
	img := renderPNG(t, "series", samplePoints(), 20_000, 50)
	for _, c := range []struct {
		name string
		col  color.RGBA
		min  int
	}{
		{"throughput", chartColThroughput, 200},
		{"latency", chartColLatency, 200},
		{"throughput target", chartColTargetTput, 100},
		{"latency target", chartColTargetLat, 100},
	} {
		if n := countColour(img, plotRect(), c.col); n < c.min {
			t.Errorf("%s: %d pixels of %v in the plot area, want at least %d", c.name, n, c.col, c.min)
		}
	}
	// Without targets, no target colour is drawn.
	img = renderPNG(t, "no targets", samplePoints(), math.NaN(), 0)
	for _, col := range []color.RGBA{chartColTargetTput, chartColTargetLat} {
		if n := countColour(img, img.Bounds(), col); n != 0 {
			t.Errorf("%d pixels of target colour %v without targets", n, col)
		}
	}
}

func TestWriteChartHigherThroughputDrawnHigher(t *testing.T) {
	for _, tc := range []struct {
		name       string
		small, big float64 // throughput at 10k and at 1M people
	}{
		{"falling", 20_000, 5_000},
		{"rising", 5_000, 20_000},
		{"close", 10_000, 11_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			points := []Point{
				{10_000, tc.small, math.NaN()},
				{1_000_000, tc.big, math.NaN()},
			}
			img := renderPNG(t, "", points, math.NaN(), math.NaN())
			l, err := newChartLayout(points, math.NaN(), math.NaN())
			if err != nil {
				t.Fatal(err)
			}
			// The top of the series colour in a narrow column around each
			// marker is the top of that marker.
			top := func(people int) int {
				x := chartPx(l.x(float64(people)))
				y := topOfColour(img, image.Rect(x-1, chartPlotTop-10, x+2, chartPlotBottom+10), chartColThroughput)
				if y < 0 {
					t.Fatalf("no throughput pixel near x=%d", x)
				}
				return y
			}
			ySmall, yBig := top(10_000), top(1_000_000)
			if (tc.small > tc.big) != (ySmall < yBig) || ySmall == yBig {
				t.Errorf("throughput %v drawn at y=%d, %v at y=%d: higher value must be higher on the image",
					tc.small, ySmall, tc.big, yBig)
			}
		})
	}
}

func TestWriteChartMarkerPerRun(t *testing.T) {
	// Render each series alone: in the sample data the two series overlap.
	for _, series := range []string{"throughput", "latency"} {
		t.Run(series, func(t *testing.T) {
			points := samplePoints()
			for i := range points {
				if series == "throughput" {
					points[i].P99Millis = math.NaN()
				} else {
					points[i].EventsPerSec = math.NaN()
				}
			}
			img := renderPNG(t, "", points, 20_000, 50)
			l, err := newChartLayout(points, 20_000, 50)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range points {
				x := chartPx(l.x(float64(p.People)))
				y, col := chartPx(l.yLeft(p.EventsPerSec)), chartColThroughput
				if series == "latency" {
					y, col = chartPx(l.yRight(p.P99Millis)), chartColLatency
				}
				if got := img.At(x, y); !sameRGBA(got, col) {
					t.Errorf("%+v: no %s marker at (%d,%d), got %v", p, series, x, y, got)
				}
			}
		})
	}
}

func TestWriteChartErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		points []Point
	}{
		{"nil", nil},
		{"empty", []Point{}},
		{"zero people", []Point{{10_000, 1, 1}, {0, 1, 1}}},
		{"negative people", []Point{{-5, 1, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteChart(&buf, "t", tc.points, 1, 1)
			if err == nil {
				t.Fatal("want an error")
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes despite error %v", buf.Len(), err)
			}
		})
	}
	if err := WriteChart(nil, "t", samplePoints(), 1, 1); err == nil {
		t.Error("nil writer: want an error")
	}
}

func TestWriteChartEdgeCases(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name                  string
		points                []Point
		targetTput, targetLat float64
		wantErr               bool
	}{
		{name: "single point", points: []Point{{100_000, 20_000, 50}}, targetTput: 20_000, targetLat: 50},
		{name: "single size three runs", points: []Point{{100_000, 19_000, 40}, {100_000, 21_000, 60}, {100_000, 20_000, 50}}},
		{name: "equal values", points: []Point{{10_000, 5, 5}, {100_000, 5, 5}, {1_000_000, 5, 5}}, targetTput: 5, targetLat: 5},
		{name: "all zero", points: []Point{{10_000, 0, 0}, {1_000_000, 0, 0}}},
		{name: "all NaN", points: []Point{{10_000, nan, nan}, {1_000_000, nan, nan}}, targetTput: nan, targetLat: nan},
		{name: "some NaN", points: []Point{{10_000, nan, 30}, {100_000, 20_000, nan}, {1_000_000, 18_000, 70}}},
		{name: "infinite values", points: []Point{{10_000, inf, -inf}, {100_000, 1, 1}}, targetTput: inf, targetLat: -inf},
		{name: "negative values", points: []Point{{10_000, -100, -3}, {100_000, 200, 4}}, targetTput: -1, targetLat: -1},
		{name: "target far above data", points: []Point{{10_000, 10, 1}}, targetTput: 1e9, targetLat: 1e6},
		{name: "tiny values", points: []Point{{10_000, 1e-12, 1e-9}, {100_000, 2e-12, 3e-9}}},
		{name: "one person", points: []Point{{1, 1, 1}}},
		{name: "close sizes", points: []Point{{10_000, 1, 1}, {10_001, 2, 2}}},
		{name: "max int people", points: []Point{{math.MaxInt, 1, 1}, {1, 2, 2}}},
		{name: "huge values", points: []Point{{10_000, math.MaxFloat64, 1}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteChart(&buf, tc.name, tc.points, tc.targetTput, tc.targetLat)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("WriteChart: %v", err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if b := img.Bounds(); b.Dx() != chartWidth || b.Dy() != chartHeight {
				t.Errorf("size %v", b)
			}
		})
	}
}

func TestChartFormatSI(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 5: "5", 0.5: "0.5", 250: "250", 1_000: "1k", 10_000: "10k", 25_000: "25k",
		100_000: "100k", 1_000_000: "1M", 2_500_000: "2.5M", 1e9: "1B",
	} {
		if got := chartFormatSI(v); got != want {
			t.Errorf("chartFormatSI(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestChartMedian(t *testing.T) {
	if got := chartMedian([]float64{3, 1, 2}); got != 2 {
		t.Errorf("odd median = %v", got)
	}
	if got := chartMedian([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("even median = %v", got)
	}
	if got := chartMedian(nil); !math.IsNaN(got) {
		t.Errorf("empty median = %v, want NaN", got)
	}
}

func TestChartLogTicksDecades(t *testing.T) {
	l, err := newChartLayout(samplePoints(), 20_000, 50)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1e4, 1e5, 1e6}
	if len(l.xTicks) != len(want) {
		t.Fatalf("x ticks %v, want %v", l.xTicks, want)
	}
	for i := range want {
		if math.Abs(l.xTicks[i]-want[i]) > 1e-6*want[i] {
			t.Fatalf("x ticks %v, want %v", l.xTicks, want)
		}
	}
	if l.leftLo != 0 || l.leftHi < 22_300 || l.rightLo != 0 || l.rightHi < 95 {
		t.Errorf("y ranges left %v..%v right %v..%v", l.leftLo, l.leftHi, l.rightLo, l.rightHi)
	}
}

// TestWriteChartExample renders the sample chart to a file in a temporary
// directory. Set CXBENCH_CHART_EXAMPLE to a path to keep a copy there.
func TestWriteChartExample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cxbench-example.png")
	if p := os.Getenv("CXBENCH_CHART_EXAMPLE"); p != "" {
		path = p
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteChart(f, "cxstream: throughput and p99 event-to-profile latency vs population", samplePoints(), 20_000, 50); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() == 0 {
		t.Fatalf("example not written: %v", err)
	}
	t.Logf("example chart: %s (%d bytes)", path, st.Size())
}

func TestWriteChartMarksAnInfiniteP99OnTheTopEdge(t *testing.T) {
	top := image.Rect(chartPlotLeft, chartPlotTop, chartPlotRight, chartPlotTop+25)
	pts := []Point{{People: 10_000, EventsPerSec: 1500, P99Millis: math.Inf(1)}, {People: 100_000, EventsPerSec: 1400, P99Millis: math.Inf(1)}}
	if n := countColour(renderPNG(t, "inf", pts, 30_000, 100), top, chartColLatency); n < 50 {
		t.Errorf("%d latency pixels along the top edge for p99 = +Inf, want a marker and a label", n)
	}
	for i := range pts {
		pts[i].P99Millis = math.NaN()
	}
	if n := countColour(renderPNG(t, "nan", pts, 30_000, 100), top, chartColLatency); n != 0 {
		t.Errorf("%d latency pixels along the top edge for p99 = NaN, want none", n)
	}
}
